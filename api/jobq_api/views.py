"""Records to JSON: the one place a job row becomes an API document."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from fastapi.responses import Response

from .models import JobOut
from .problems import Problem


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


def encode_cursor(created_at: datetime, job_id: uuid.UUID) -> str:
    """An opaque cursor for the job after which the next page starts."""
    raw = orjson.dumps([created_at.isoformat(), str(job_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The position a cursor points at; a 400 problem naming `cursor` if it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, job_id = orjson.loads(raw)
        return datetime.fromisoformat(created_at), uuid.UUID(job_id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise Problem(
            400,
            "bad-cursor",
            "Invalid cursor",
            "cursor was not returned by this API",
            errors=[{"field": "cursor", "message": "not a cursor returned by GET /v1/jobs"}],
        ) from None
