"""OCI image archives written without a container tool: the node's pause image and tiny test images.

An archive is an OCI image layout in a tar (oci-layout, index.json, blobs/sha256/...)
holding one uncompressed layer, its config and a manifest, which
`ctr images import` reads as buildah's `oci-archive:` output. Entries carry fixed
owners and times, so the same files give the same image digest.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAUSE_SOURCE = HERE / "pause.c"
# Image names under a reserved domain (RFC 2606): nothing can ever be pulled from it,
# so a missing image fails at once instead of reaching for a registry.
PAUSE_IMAGE = "jobq.invalid/pause:1"

_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_CONFIG = "application/vnd.oci.image.config.v1+json"
_LAYER = "application/vnd.oci.image.layer.v1.tar"
# The folders runc expects to mount over, and the kubelet's /etc/hosts and resolv.conf.
_SKELETON = ("dev", "etc", "proc", "sys", "tmp")


@dataclass
class Layer:
    """The files of a single-layer image: path in the image -> content, plus symlinks."""

    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    symlinks: dict[str, str] = field(default_factory=dict)

    def add_file(self, path: str, content: bytes, mode: int = 0o755) -> None:
        """Put `content` at `path` (no leading slash) with `mode`."""
        self.files[path.lstrip("/")] = (content, mode)

    def add_symlink(self, path: str, target: str) -> None:
        """Make `path` a symlink to `target`."""
        self.symlinks[path.lstrip("/")] = target

    def tar(self) -> bytes:
        """The layer as an uncompressed tar, parents before children, sorted."""
        folders = set(_SKELETON)
        for path in (*self.files, *self.symlinks):
            parts = path.split("/")[:-1]
            folders.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for folder in sorted(folders):
                tar.addfile(_entry(folder, tarfile.DIRTYPE, 0o755 if folder != "tmp" else 0o1777))
            for path, target in sorted(self.symlinks.items()):
                info = _entry(path, tarfile.SYMTYPE, 0o777)
                info.linkname = target
                tar.addfile(info)
            for path, (content, mode) in sorted(self.files.items()):
                info = _entry(path, tarfile.REGTYPE, mode)
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
        return out.getvalue()


def _entry(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = 0
    return info


def write_archive(path: Path, name: str, layer: Layer, entrypoint: list[str], cmd: list[str] | None = None) -> Path:
    """Write the OCI archive of a linux/amd64 image called `name` (a full reference) to `path`."""
    blobs: dict[str, bytes] = {}

    def blob(data: bytes, media_type: str) -> dict[str, object]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    layer_tar = layer.tar()
    layer_ref = blob(layer_tar, _LAYER)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": entrypoint, "Cmd": cmd or [], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_ref["digest"]]},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": _MANIFEST,
        "config": blob(_json(config), _CONFIG),
        "layers": [layer_ref],
    }
    manifest_ref = blob(_json(manifest), _MANIFEST)
    # containerd names the image from io.containerd.image.name; other tools read ref.name.
    manifest_ref["annotations"] = {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [manifest_ref]}

    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode="w") as tar:
        entries = {"oci-layout": _json({"imageLayoutVersion": "1.0.0"}), "index.json": _json(index)}
        entries |= {f"blobs/sha256/{digest.removeprefix('sha256:')}": data for digest, data in blobs.items()}
        for folder in ("blobs", "blobs/sha256"):
            tar.addfile(_entry(folder, tarfile.DIRTYPE, 0o755))
        for member, data in entries.items():
            info = _entry(member, tarfile.REGTYPE, 0o644)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def pause_archive(folder: Path) -> Path:
    """Compile pause.c statically in `folder` and write the pause image's archive there."""
    folder.mkdir(parents=True, exist_ok=True)
    binary = folder / "pause"
    result = subprocess.run(
        ["gcc", "-static", "-Os", "-s", "-o", str(binary), str(PAUSE_SOURCE)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"gcc could not build the pause image (needs gcc and libc6-dev):\n{result.stderr}")
    layer = Layer()
    layer.add_file("pause", binary.read_bytes())
    return write_archive(folder / "pause.oci.tar", PAUSE_IMAGE, layer, ["/pause"])


# Applets tests call by name (busybox picks the applet from argv[0]).
BUSYBOX_APPLETS = ("sh", "cat", "echo", "ls", "mkdir", "nc", "nslookup", "sleep", "timeout", "httpd")


def busybox_archive(path: Path, name: str, busybox: Path = Path("/bin/busybox")) -> Path:
    """An image of Debian's static busybox FROM scratch, its shell as the entrypoint."""
    layer = Layer()
    layer.add_file("bin/busybox", busybox.read_bytes())
    for applet in BUSYBOX_APPLETS:
        layer.add_symlink(f"bin/{applet}", "busybox")
    return write_archive(path, name, layer, ["/bin/sh", "-c"])
