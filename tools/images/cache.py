"""Where the image builds keep their state: outside the clone, so every checkout shares it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def cache_root() -> Path:
    """`${XDG_CACHE_HOME:-$HOME/.cache}/jobq/images`: buildah's storage, the bases' inputs, the archives."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jobq" / "images"


def digest(*parts: str | bytes) -> str:
    """A SHA-256 over the parts, each length-prefixed so that ("ab", "c") and ("a", "bc") differ."""
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        hasher.update(len(data).to_bytes(8, "big"))
        hasher.update(data)
    return hasher.hexdigest()
