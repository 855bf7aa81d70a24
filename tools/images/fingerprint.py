"""What an image is built from, as one digest: a warm `make images` skips unchanged images
without running buildah at all (hashing the build context is what makes even a fully
cached `buildah bud` take seconds per image).

The inputs are the Containerfile, the build arguments (the bases' names carry their
keys) and every file its `COPY` and `ADD` instructions take from the build context,
less what the context's .dockerignore leaves out.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from tools.images.cache import digest


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regular expression over '/'-separated relative paths."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


class Ignore:
    """A build context's .dockerignore: the last pattern matching a path (or a parent) decides; '!' keeps."""

    def __init__(self, context: Path) -> None:
        self.rules: list[tuple[bool, re.Pattern[str]]] = []
        ignore_file = context / ".dockerignore"
        lines = ignore_file.read_text().splitlines() if ignore_file.exists() else []
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            keep = line.startswith("!")
            self.rules.append((keep, glob_regex(line.lstrip("!").strip("/"))))

    def excludes(self, relative: str) -> bool:
        parts = relative.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        excluded = False
        for keep, regex in self.rules:
            if any(regex.fullmatch(prefix) for prefix in prefixes):
                excluded = not keep
        return excluded


def copied_sources(containerfile: Path) -> list[str]:
    """The build-context paths of the Containerfile's COPY and ADD instructions (not `--from=` stages)."""
    sources: list[str] = []
    for line in containerfile.read_text().splitlines():
        words = line.split()
        if not words or words[0].upper() not in ("COPY", "ADD"):
            continue
        arguments = [word for word in words[1:] if not word.startswith("--")]
        if any(word.startswith("--from=") for word in words[1:]):
            continue
        sources += arguments[:-1]
    return sources


def context_files(context: Path, sources: list[str]) -> Iterator[Path]:
    """Every file under the sources that the build context sends, in a stable order."""
    ignore = Ignore(context)
    for source in sorted(set(sources)):
        root = context / source
        if root.is_file():
            yield root
            continue
        for folder, dirs, files in os.walk(root):
            here = Path(folder)
            dirs[:] = sorted(d for d in dirs if not ignore.excludes((here / d).relative_to(context).as_posix()))
            for name in sorted(files):
                path = here / name
                if not ignore.excludes(path.relative_to(context).as_posix()):
                    yield path


def fingerprint(containerfile: Path, context: Path, build_args: Mapping[str, str]) -> str:
    """The digest of everything the build reads."""
    parts: list[str | bytes] = [containerfile.read_text()]
    parts += [f"{key}={value}" for key, value in sorted(build_args.items())]
    for path in context_files(context, copied_sources(containerfile)):
        content = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
        parts += [path.relative_to(context).as_posix(), oct(path.lstat().st_mode), content]
    return digest(*parts)
