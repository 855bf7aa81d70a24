"""Files generated from declarations: write them (`make docs`), or check them (`make lint`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(what: str, wanted: Callable[[], dict[Path, str]]) -> int:
    """Write every file `wanted` returns, or with --check fail naming those that differ."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true", help=f"fail when {what} is out of date")
    args = parser.parse_args()
    files = wanted()
    if args.check:
        stale = [str(p.relative_to(ROOT)) for p, text in files.items() if not p.exists() or p.read_text() != text]
        if stale:
            print(f"out of date: {', '.join(stale)}: run `make docs`", file=sys.stderr)
            return 1
        return 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return 0
