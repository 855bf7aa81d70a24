"""The control plane's binaries: the pinned versions, and build.sh that builds or finds them."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
BUILD_SCRIPT = HERE / "build.sh"
VERSIONS_FILE = HERE / "versions.env"


def versions() -> dict[str, str]:
    """The pinned versions from versions.env (KUBE_VERSION, ETCD_VERSION, HELM_VERSION)."""
    pairs = {}
    for line in VERSIONS_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            pairs[key.strip()] = value.strip()
    return pairs


def build_binaries(
    log: Path | None = None, on_slow: Callable[[], object] | None = None, groups: tuple[str, ...] = ()
) -> Path:
    """Run build.sh (a no-op when the cache is warm) and return the folder holding the binaries.

    `groups` are build.sh's binary groups (`all` for the control plane and the node);
    none builds the control plane. Progress goes to `log` when given, else to this
    process's stderr. `on_slow` is called once if the script still runs after a few
    seconds: a real build is under way.
    """
    with contextlib.ExitStack() as stack:
        stderr: IO[bytes] | None = None
        if log is not None:
            stderr = stack.enter_context(log.open("wb"))
        out = stack.enter_context(tempfile.TemporaryFile())
        process = subprocess.Popen(
            ["bash", str(BUILD_SCRIPT), *groups], stdin=subprocess.DEVNULL, stdout=out, stderr=stderr
        )
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            if on_slow is not None:
                on_slow()
            process.wait()
        out.seek(0)
        stdout = out.read().decode()
    if process.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-40:]) if log else ""
        raise RuntimeError(f"{BUILD_SCRIPT} failed with exit code {process.returncode}\n{tail}")
    return Path(stdout.strip().splitlines()[-1])


EXTRAS_SCRIPT = HERE / "extras.sh"
PACKAGES_SCRIPT = HERE / "packages.sh"


def install_node_packages() -> None:
    """Run packages.sh: Debian's containerd, runc, CNI plugins and firewall tools, when missing."""
    result = subprocess.run(["bash", str(PACKAGES_SCRIPT)], stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{PACKAGES_SCRIPT} failed with exit code {result.returncode}\n{result.stderr[-4000:]}")


def extra(what: str) -> Path:
    """Run extras.sh (`crds` or `skaffold`; a no-op when cached) and return the path it prints."""
    result = subprocess.run(
        ["bash", str(EXTRAS_SCRIPT), what], stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{EXTRAS_SCRIPT} {what} failed with exit code {result.returncode}\n{result.stderr[-4000:]}")
    return Path(result.stdout.strip().splitlines()[-1])
