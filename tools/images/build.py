"""Build the five images with buildah on Debian bases and export each as an OCI archive.

jobq-api:dev, jobq-worker:dev and jobq-operator:dev from the services' own Dockerfiles,
their base named by build argument; jobq-postgresql:15 and jobq-redis:7.0 for the chart's
bundled servers, from tools/images/<server>/Containerfile. Everything is cached under
`${XDG_CACHE_HOME:-$HOME/.cache}/jobq/images`: a second run with nothing changed builds
nothing and exports nothing.
"""

from __future__ import annotations

import fcntl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tools.images.bases import BASES, POSTGRESQL_MAJOR, ensure_base
from tools.images.buildah import Buildah
from tools.images.cache import cache_root
from tools.images.fingerprint import fingerprint

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
# The image label holding the fingerprint of what the image was built from.
INPUTS_LABEL = "org.jobq.image.inputs"


@dataclass(frozen=True)
class Image:
    """An image to build: its name, its Containerfile and context, and the bases its build arguments name."""

    ref: str
    containerfile: Path
    context: Path
    # Build argument → name of the base (bases.BASES) whose image it names.
    bases: dict[str, str]
    fixed_args: dict[str, str] = field(default_factory=dict)


IMAGES = [
    Image("jobq-api:dev", ROOT / "api" / "Dockerfile", ROOT, {"PYTHON_IMAGE": "python", "NODE_IMAGE": "node"}),
    Image("jobq-worker:dev", ROOT / "worker" / "Dockerfile", ROOT, {"PYTHON_IMAGE": "python"}),
    Image("jobq-operator:dev", ROOT / "operator" / "Dockerfile", ROOT, {"PYTHON_IMAGE": "python"}),
    Image(
        f"jobq-postgresql:{POSTGRESQL_MAJOR}",
        HERE / "postgresql" / "Containerfile",
        HERE / "postgresql",
        {"BASE": "postgresql"},
        {"PG_MAJOR": POSTGRESQL_MAJOR},
    ),
    # Debian bookworm's redis-server is 7.0 (tests/images checks the version inside).
    Image("jobq-redis:7.0", HERE / "redis" / "Containerfile", HERE / "redis", {"BASE": "redis"}),
]


@contextmanager
def timed(what: str) -> Iterator[list[str]]:
    """Print how long the block took; the block may append a note (e.g. "cached")."""
    notes: list[str] = []
    start = time.monotonic()
    yield notes
    suffix = f" ({', '.join(notes)})" if notes else ""
    print(f"  {what:<32} {time.monotonic() - start:6.1f} s{suffix}", flush=True)


def local_ref(ref: str) -> str:
    """buildah's name for an image tagged without a registry."""
    return f"localhost/{ref}"


def build_image(buildah: Buildah, image: Image, base_refs: dict[str, str]) -> bool:
    """Build the image unless one built from the same inputs is there; whether it was built."""
    build_args = {arg: base_refs[base] for arg, base in image.bases.items()} | image.fixed_args
    inputs = fingerprint(image.containerfile, image.context, build_args)
    if buildah.label(local_ref(image.ref), INPUTS_LABEL) == inputs:
        return False
    previous = buildah.image_id(local_ref(image.ref))
    buildah.bud(image.containerfile, image.context, image.ref, build_args, {INPUTS_LABEL: inputs})
    if previous is not None and previous != buildah.image_id(local_ref(image.ref)):
        # The replaced image, untagged now, would stay in the cache for ever.
        buildah.remove_images(previous)
    return True


def export_archive(buildah: Buildah, ref: str, archives: Path) -> tuple[Path, bool]:
    """The image's OCI archive, written again only when the image's id changed; and whether it was.

    The archive's index names the image fully (`localhost/jobq-api:dev`), as buildah does:
    containerd keeps a short name as it is, where Kubernetes would look for the default
    registry's.
    """
    archive = archives / f"{ref.replace(':', '_')}.oci.tar"
    stamp = archive.with_name(archive.name + ".id")
    image_id = buildah.image_id(local_ref(ref))
    if image_id is None:
        raise RuntimeError(f"{ref} is not in buildah's storage")
    # The stamp says which image the archive holds, under which name.
    written_for = f"{image_id} {local_ref(ref)}"
    if archive.exists() and stamp.exists() and stamp.read_text() == written_for:
        return archive, False
    archives.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(archive.name + ".partial")
    partial.unlink(missing_ok=True)
    buildah.push_oci_archive(local_ref(ref), partial)
    partial.replace(archive)
    stamp.write_text(written_for)
    return archive, True


def ensure_tools() -> None:
    """buildah, runc and mmdebstrap on PATH (Debian's packages, installed when missing)."""
    subprocess.run(["bash", str(HERE / "ensure.sh")], check=True)


def default_buildah() -> Buildah:
    """buildah on jobq's own storage in the cache."""
    return Buildah(cache_root())


@contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file: concurrent runs (pytest's workers, two `make images`)
    take turns, and the later one finds everything built."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_images(buildah: Buildah | None = None) -> dict[str, Path]:
    """Build (or find cached) the five images and their OCI archives: full image name
    (`localhost/jobq-api:dev`, the name inside the archive) → archive."""
    with exclusive(cache_root() / "build.lock"):
        return _build_images(buildah or default_buildah())


def _build_images(buildah: Buildah) -> dict[str, Path]:
    started = time.monotonic()
    with timed("tools (buildah, runc, mmdebstrap)"):
        ensure_tools()
    base_refs: dict[str, str] = {}
    rebuilt = False
    for name, base in BASES.items():
        with timed(f"base {name}") as notes:
            base_refs[name], built = ensure_base(buildah, base, cache_root() / "downloads")
            notes.append("built" if built else "cached")
            rebuilt |= built
    if rebuilt:
        with timed("prune layers of former bases"):
            # Untagged images are `--layers`' step cache; after a new base they cache steps of
            # builds that will not come again (the few of unchanged bases are rebuilt).
            buildah.remove_images("--prune")
    archives: dict[str, Path] = {}
    for image in IMAGES:
        with timed(f"image {image.ref}") as notes:
            notes.append("built" if build_image(buildah, image, base_refs) else "unchanged")
        with timed(f"archive {image.ref}") as notes:
            archive, written = export_archive(buildah, image.ref, cache_root() / "archives")
            archives[local_ref(image.ref)] = archive
            notes.append("written" if written else "unchanged")
    print(f"  {'total':<32} {time.monotonic() - started:6.1f} s", flush=True)
    return archives
