"""buildah, with its storage kept in jobq's cache instead of the machine's /var/lib/containers."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

# Settings of the host's Python and npm (find-links to a local wheel folder, a registry
# mirror) must not decide what goes into an image: the builds see none of them.
HOST_SETTINGS_PREFIXES = ("PIP_", "UV_", "NPM_CONFIG_", "PYTHON")


def clean_environment() -> dict[str, str]:
    """This process's environment without the host's Python and npm settings."""
    return {key: value for key, value in os.environ.items() if not key.upper().startswith(HOST_SETTINGS_PREFIXES)}


class BuildahError(RuntimeError):
    """A buildah command failed; the message carries its command line and output."""


class Buildah:
    """buildah commands on one storage (overlay, under `root`), chroot isolation, no pulls."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.global_options = [
            "--root",
            str(root / "storage"),
            "--runroot",
            str(root / "run"),
            "--storage-driver",
            "overlay",
        ]

    def run(self, *args: str, quiet: bool = True) -> str:
        """Run `buildah ARGS`, returning its standard output; output is shown only when it fails, unless not quiet."""
        command = ["buildah", *self.global_options, *args]
        result = subprocess.run(
            command,
            env=clean_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if quiet else None,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BuildahError(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}")
        return result.stdout

    def image_id(self, ref: str) -> str | None:
        """The id of the image `ref` names in this storage, or None when there is none."""
        try:
            return self.run("inspect", "--type", "image", "--format", "{{.FromImageID}}", ref).strip()
        except BuildahError:
            return None

    def remove_images(self, *args: str) -> None:
        """`buildah rmi ARGS`, best effort: an image a working container still uses stays for a later run."""
        with suppress(BuildahError):
            self.run("rmi", *args)

    def image_config(self, ref: str) -> dict[str, Any]:
        """The OCI image configuration of `ref` (`config.User`, `config.Entrypoint`, labels…)."""
        inspected: dict[str, Any] = json.loads(self.run("inspect", "--type", "image", ref))
        return dict(inspected["OCIv1"])

    def label(self, ref: str, key: str) -> str | None:
        """A label of image `ref`, or None when the image or the label is missing."""
        if self.image_id(ref) is None:
            return None
        labels = self.image_config(ref).get("config", {}).get("Labels") or {}
        value = labels.get(key)
        return str(value) if value is not None else None

    def import_rootfs(self, rootfs: Path, files: Path | None, env: Mapping[str, str], ref: str) -> None:
        """Commit a root filesystem tarball (and a folder of files laid over it) as image `ref`."""
        container = self.run("from", "--pull=never", "scratch").strip()
        try:
            self.run("add", container, str(rootfs), "/")
            if files is not None:
                self.run("add", container, f"{files}/.", "/")
            env_options = [option for key, value in env.items() for option in ("--env", f"{key}={value}")]
            self.run("config", *env_options, "--cmd", "/bin/sh", container)
            self.run("commit", "--quiet", "--rm", container, ref)
        except BaseException:
            self.run("rm", container)
            raise

    def bud(
        self,
        containerfile: Path,
        context: Path,
        tag: str,
        build_args: Mapping[str, str],
        labels: Mapping[str, str],
    ) -> None:
        """`buildah bud`: chroot isolation (no daemon, no namespaces to set up), local bases only, layers cached."""
        options = [f"--build-arg={key}={value}" for key, value in build_args.items()]
        options += [f"--label={key}={value}" for key, value in labels.items()]
        self.run(
            "bud",
            "--isolation",
            "chroot",
            "--pull=never",
            "--layers",
            *options,
            "-f",
            str(containerfile),
            "-t",
            tag,
            str(context),
        )

    def push_oci_archive(self, ref: str, archive: Path) -> None:
        """Write image `ref` to an OCI archive whose index names it `ref` (what `ctr images import` reads)."""
        self.run("push", "--quiet", ref, f"oci-archive:{archive}:{ref}")

    @contextmanager
    def working_container(self, ref: str) -> Iterator[str]:
        """A working container of image `ref`, removed on exit."""
        container = self.run("from", "--pull=never", "--quiet", ref).strip()
        try:
            yield container
        finally:
            self.run("rm", container)

    def run_command(
        self, container: str, argv: Sequence[str], env: Mapping[str, str] | None = None, user: str | None = None
    ) -> list[str]:
        """The command line running `argv` in a working container, as the image's user unless `user`."""
        options = ["--user", user] if user else []
        options += [f"--env={key}={value}" for key, value in (env or {}).items()]
        return ["buildah", *self.global_options, "run", "--isolation", "chroot", *options, container, "--", *argv]

    def run_in(
        self, container: str, argv: Sequence[str], env: Mapping[str, str] | None = None, user: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` in a working container, output captured, never raising."""
        return subprocess.run(
            self.run_command(container, argv, env, user),
            env=clean_environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
