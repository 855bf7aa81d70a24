"""The bases: root filesystems made by mmdebstrap from Debian's packages, imported into buildah.

Each base is `mmdebstrap --variant=minbase` of one Debian suite plus a few packages, with
the host's CA bundle (outbound TLS here may go through an intercepting proxy, and pip and
npm inside the builds must trust it). A base is built once per key: the suite, the
packages, the hooks, the CA bundle and the source of this module and of node.py.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tools.images import node
from tools.images.buildah import Buildah, clean_environment
from tools.images.cache import digest

SUITE = "bookworm"
# Debian bookworm's python3; `make locks` resolves the images' locks for it (LOCKS_PYTHON).
DEBIAN_PYTHON = "3.11.2"
POSTGRESQL_MAJOR = "15"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Documentation, man pages and translations are not unpacked: nothing in a container
# reads them. Copyright files stay, for the licences.
SLIM = (
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/info/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
)


@dataclass(frozen=True)
class Base:
    """One base image: its name, Debian packages on top of minbase, environment and extras."""

    name: str
    packages: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    # mmdebstrap --customize-hook commands, run on the finished tree ("$1" is its root).
    hooks: tuple[str, ...] = ()
    # Whether the host's CA bundle replaces the base's: the bases whose builds download.
    host_ca: bool = False
    # Files laid over the tree: a function filling a folder, given a download cache.
    files: Callable[[Path, Path], Path] | None = None

    def key(self) -> str:
        """What the base is built from; a change to any of it builds a new base."""
        sources = [Path(__file__).read_text(), Path(node.__file__).read_text()]
        ca = HOST_CA_BUNDLE.read_bytes() if self.host_ca else b""
        env = [f"{key}={value}" for key, value in sorted(self.env.items())]
        return digest(SUITE, self.name, *self.packages, *env, *self.hooks, ca, *sources)

    def ref(self) -> str:
        """The base's image name in buildah's storage, tagged with its key."""
        return f"localhost/jobq-base-{self.name}:{self.key()[:16]}"


BASES = {
    base.name: base
    for base in (
        Base(
            "python",
            # python: the Dockerfiles run `python -m venv` and `python -m pip`; passwd: their
            # groupadd and useradd; ca-certificates: OpenSSL's default paths for TLS clients.
            ("python3", "python3-venv", "python3-pip", "python-is-python3", "passwd", "ca-certificates"),
            env={"LANG": "C.UTF-8"},
            host_ca=True,
        ),
        Base(
            "node",
            # Node carries its own CA roots; NODE_EXTRA_CA_CERTS adds the host's.
            (),
            env={"NODE_EXTRA_CA_CERTS": str(HOST_CA_BUNDLE)},
            host_ca=True,
            files=node.stage_node,
        ),
        Base(
            "postgresql",
            (f"postgresql-{POSTGRESQL_MAJOR}",),
            # The package creates a cluster of its own under /etc and /var/lib; the image's
            # entry point makes its own in PGDATA instead.
            hooks=(f'rm -rf "$1/etc/postgresql/{POSTGRESQL_MAJOR}" "$1/var/lib/postgresql/{POSTGRESQL_MAJOR}"',),
        ),
        Base("redis", ("redis-server",)),
    )
}


def ensure_base(buildah: Buildah, base: Base, downloads: Path) -> tuple[str, bool]:
    """The base's image name, built first when the storage lacks it; and whether it was built."""
    ref = base.ref()
    if buildah.image_id(ref) is not None:
        return ref, False
    with tempfile.TemporaryDirectory(prefix=f"jobq-base-{base.name}-") as scratch:
        rootfs = Path(scratch) / "rootfs.tar"
        subprocess.run(
            [
                "mmdebstrap",
                "--quiet",
                "--variant=minbase",
                *([f"--include={','.join(base.packages)}"] if base.packages else []),
                *SLIM,
                *[f"--customize-hook={hook}" for hook in base.hooks],
                SUITE,
                str(rootfs),
            ],
            check=True,
            env=clean_environment(),
            # No mirror argument: mmdebstrap uses Debian's mirror with the suite's updates
            # and security archives; with standard input open it would read sources from it.
            stdin=subprocess.DEVNULL,
        )
        overlay = Path(scratch) / "files"
        overlay.mkdir()
        if base.files is not None:
            base.files(downloads, overlay)
        if base.host_ca:
            ca = overlay / HOST_CA_BUNDLE.relative_to("/")
            ca.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(HOST_CA_BUNDLE, ca)
        env = {"PATH": PATH, **base.env}
        buildah.import_rootfs(rootfs, overlay, env, ref)
    remove_older(buildah, ref)
    return ref, True


def remove_older(buildah: Buildah, ref: str) -> None:
    """Untag the base's images of other keys: a changed package list must not grow the cache for ever."""
    repository = ref.rpartition(":")[0]
    for name in buildah.run("images", "--format", "{{.Name}}:{{.Tag}}").split():
        if name.rpartition(":")[0] == repository and name != ref:
            buildah.remove_images(name)
