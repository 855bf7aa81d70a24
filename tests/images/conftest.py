"""Fixtures for the tests of the images built with buildah on Debian bases (tools/images).

Needs root (buildah's storage, chroot isolation). The images are built on first use and
found in the cache afterwards (minutes cold, seconds warm); the build runs right after
collection, outside the per-test timeout, and a failed build fails every test here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tools.images.build import build_images, default_buildah
from tools.images.buildah import Buildah

HERE = Path(__file__).resolve().parent
ARCHIVES = pytest.StashKey[dict[str, Path] | Exception]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build or find the five images before the first test here runs."""
    selected = any(HERE in Path(item.path).resolve().parents for item in session.items)
    if session.config.option.collectonly or not selected or os.geteuid() != 0:
        return
    try:
        session.config.stash[ARCHIVES] = build_images()
    except Exception as exc:
        session.config.stash[ARCHIVES] = exc


@pytest.fixture(scope="session")
def archives(request: pytest.FixtureRequest) -> dict[str, Path]:
    """Image name → its OCI archive, all five built."""
    if os.geteuid() != 0:
        pytest.skip("building images needs root: buildah's storage and chroot isolation")
    built = request.config.stash.get(ARCHIVES, None)
    if built is None:
        built = build_images()
    if isinstance(built, Exception):
        raise built
    return built


@pytest.fixture(scope="session")
def buildah(archives: dict[str, Path]) -> Buildah:
    """buildah on the storage the images were built in."""
    return default_buildah()
