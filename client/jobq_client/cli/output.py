"""What the commands print: aligned tables and relative times for people, the API's JSON for scripts."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

import pydantic

GAP = "  "  # between a table's columns
MIN_WIDTH = 12  # a column cut to fit the terminal keeps at least this many characters


def jsonable(value: Any) -> Any:
    """A model (or a list of them) as the API's JSON: times in RFC 3339, only the members it sent."""
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json", exclude_unset=True)
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


def document(value: Any) -> str:
    """One JSON document, indented, for `--json`."""
    return json.dumps(jsonable(value), indent=2, ensure_ascii=False)


def line(value: Any) -> str:
    """One JSON document on one line (`tail --json`)."""
    return json.dumps(jsonable(value), ensure_ascii=False, separators=(",", ":"))


def compact(value: Any) -> str:
    """A JSON value inline in a table or a job's page."""
    return json.dumps(value, ensure_ascii=False)


def terminal_width(stream: TextIO) -> int | None:
    """The terminal's width when `stream` is one, else None (a pipe or a file takes whole lines)."""
    try:
        tty = stream.isatty()
    except ValueError:  # closed
        return None
    return shutil.get_terminal_size().columns if tty else None


def table(
    header: Sequence[str], rows: Iterable[Sequence[str]], *, right: Iterable[int] = (), width: int | None = None
) -> list[str]:
    """`rows` under `header` in columns as wide as their content, columns `right` aligned right.

    With a `width`, the widest columns (never the first, the id to copy) are cut, ending in
    "…", down to their header's width (and MIN_WIDTH); lines still too long are cut at `width`.
    """
    cells = [list(header), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    floors = [max(len(name), MIN_WIDTH) for name in header]
    over = sum(widths) + len(GAP) * (len(widths) - 1) - (width or 0)
    while width is not None and over > 0:
        i = max(range(1, len(widths)), key=lambda c: widths[c] - floors[c], default=0)
        if i == 0 or widths[i] <= floors[i]:
            break
        cut = min(over, widths[i] - floors[i])
        widths[i] -= cut
        over -= cut
    aligned = set(right)
    lines = []
    for row in cells:
        parts = [
            (fit(cell, widths[i]).rjust if i in aligned else fit(cell, widths[i]).ljust)(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append(fit(GAP.join(parts).rstrip(), width))
    return lines


def fit(text: str, width: int | None) -> str:
    """`text`, cut to `width` characters (the last one "…") if it is longer."""
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


def span(seconds: float) -> str:
    """A duration for people: `3 s`, `12 min`, `5 h`, `2 d`."""
    s = abs(seconds)
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    if s < 86400:
        return f"{s / 3600:.0f} h"
    return f"{s / 86400:.0f} d"


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """A time relative to now: `3 s ago`, `in 5 min`; `-` for none."""
    if when is None:
        return "-"
    seconds = ((now or datetime.now(UTC)) - when).total_seconds()
    return f"in {span(seconds)}" if seconds < -0.5 else f"{span(seconds)} ago"


def iso(when: datetime | None) -> str:
    """A time in RFC 3339, to the second, in UTC."""
    return "-" if when is None else when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
