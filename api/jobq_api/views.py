"""Records to JSON: the one place a job row becomes an API document."""

from __future__ import annotations

import base64
import csv
import io
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
import orjson
from fastapi.responses import Response

from .models import JobOut
from .problems import Problem

T = TypeVar("T")


class JSONResponse(Response):
    """A JSON response rendered with orjson (UUIDs and datetimes included)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_as_string)


def _as_string(value: Any) -> str:
    # asyncpg returns its own UUID class, which orjson does not know.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# The columns of a job document: JobOut's fields (the OpenAPI contract) less the ones
# this module adds itself.
_JOB_FIELDS = tuple(name for name in JobOut.model_fields if name != "history")


def job(record: asyncpg.Record, history: Sequence[asyncpg.Record] | None = None) -> dict[str, Any]:
    """A job row as the API document."""
    out = {name: record[name] for name in _JOB_FIELDS}
    if history is not None:
        out["history"] = [dict(a) for a in history]
    return out


def jobs_as_json_lines(records: Sequence[asyncpg.Record]) -> bytes:
    """Jobs as JSON lines: each the document `GET /v1/jobs/{id}` returns, less its history."""
    return b"".join(orjson.dumps(job(r), default=_as_string) + b"\n" for r in records)


CSV_COLUMNS = _JOB_FIELDS
"""An export's CSV columns, in order: a job document's fields."""


def jobs_as_csv(records: Sequence[asyncpg.Record]) -> bytes:
    """Jobs as CSV rows of CSV_COLUMNS: text and numbers as they are, times in ISO 8601,
    the payload, result, error and tags as JSON, nothing (an empty field) for null."""
    out = io.StringIO()
    writer = csv.writer(out)
    for record in records:
        writer.writerow(_csv_field(record[name]) for name in CSV_COLUMNS)
    return out.getvalue().encode()


def csv_header() -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow(CSV_COLUMNS)
    return out.getvalue().encode()


def _csv_field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str | int | float | uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return orjson.dumps(value, default=_as_string).decode()


def encode_cursor(at: datetime, row_id: uuid.UUID | int) -> str:
    """An opaque cursor for the row (a job, an audit entry) after which the next page starts."""
    raw = orjson.dumps([at.isoformat(), str(row_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The position a `GET /v1/jobs` cursor points at; a 400 problem naming `cursor` if it is not ours."""
    return decode_position(cursor, uuid.UUID, "GET /v1/jobs")


def decode_position(cursor: str, make_id: Callable[[str], T], listed_by: str) -> tuple[datetime, T]:
    """The position a cursor points at, its id made by `make_id`; a 400 problem naming
    `cursor` if it is not one `listed_by` returned."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, row_id = orjson.loads(raw)
        if not isinstance(row_id, str):
            raise TypeError(row_id)
        return datetime.fromisoformat(at), make_id(row_id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise Problem(
            400,
            "bad-cursor",
            "Invalid cursor",
            "cursor was not returned by this API",
            errors=[{"field": "cursor", "message": f"not a cursor returned by {listed_by}"}],
        ) from None
