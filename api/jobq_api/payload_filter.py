"""`GET /v1/jobs?payload=path=value`: the filters, merged into one object a matching payload contains."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson

from .problems import Problem

PATH_PATTERN = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
"""Dot-separated object keys: letters, digits, `_` and `-`, no empty key."""


def containment(filters: Sequence[str], field: str = "payload") -> dict[str, Any] | None:
    """The object every matching payload contains (`payload @> it`), each filter's path and value merged.

    None for no filters; a 422 problem naming `payload[i]` (`field[i]`) for a filter that is not
    `path=value` or that contradicts an earlier one (`a=1` and `a=2`, `a=1` and `a.b=2`).
    """
    merged: dict[str, Any] = {}
    for i, text in enumerate(filters):
        path, sep, raw = text.partition("=")
        if not sep:
            raise _invalid(field, i, "expected path=value, e.g. user.id=123")
        if not PATH_PATTERN.fullmatch(path):
            raise _invalid(field, i, f"path {path!r} is not dot-separated keys of letters, digits, '_' and '-'")
        value = _value(raw)
        if isinstance(value, str) and "\x00" in value:
            raise _invalid(field, i, "must not contain the NUL character (U+0000), which PostgreSQL cannot store")
        if not _merge(merged, path.split("."), value):
            raise _invalid(field, i, f"contradicts an earlier payload filter on {path!r}")
    return merged or None


def _value(raw: str) -> Any:
    """A JSON scalar (`123`, `1.5`, `true`, `null`, `"quoted"`) as such; anything else as the plain string."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw
    return raw if isinstance(value, dict | list) else value


def _merge(into: dict[str, Any], keys: list[str], value: Any) -> bool:
    """Put `value` at `keys` in `into`; False when an earlier filter put something else on that path."""
    node = into
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            return False
        node = child
    last = keys[-1]
    # Compared as JSON: in Python True == 1, in a payload they differ.
    if last in node and orjson.dumps(node[last]) != orjson.dumps(value):
        return False
    node[last] = value
    return True


def _invalid(name: str, index: int, message: str) -> Problem:
    field = f"{name}[{index}]"
    return Problem(
        422, "validation", "Invalid request", f"{field}: {message}", errors=[{"field": field, "message": message}]
    )
