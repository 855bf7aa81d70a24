"""`/v1/audit`: who changed what through the API, and when (admin keys only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from jobq_core.pg import audit
from jobq_core.pg.apikeys import ApiKey, Scope

from .. import views
from ..auth import require
from ..models import AuditPageOut, Text

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("", response_model=AuditPageOut, summary="Read the audit log")
async def read_audit(
    request: Request,
    action: audit.Action | None = None,
    key_name: Annotated[Text | None, Query(max_length=200, description="The name of the key that acted.")] = None,
    target: Annotated[
        Text | None, Query(max_length=200, description="A job or key id, a queue or schedule name.")
    ] = None,
    after: Annotated[datetime | None, Query(description="Entries at or after this time.")] = None,
    before: Annotated[datetime | None, Query(description="Entries before this time.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    _: ApiKey = Depends(require(Scope.ADMIN)),
) -> Response:
    """Changes made through the API that were not plain submits, newest first: cancel,
    retry, run now and delete of jobs, retries of dead groups, pausing and resuming
    queues, every change to a schedule, keys created and revoked. Each names the key
    that made it, the action, its target and what the request asked for beyond that."""
    filters = audit.AuditFilter(action=action, key_name=key_name, target=target, after=after, before=before)
    position = views.decode_position(cursor, int, "GET /v1/audit") if cursor else None
    rows = await audit.entries(request.app.state.pool, filters, limit=limit + 1, after=position)
    page, more = rows[:limit], len(rows) > limit
    next_cursor = views.encode_cursor(page[-1]["at"], page[-1]["id"]) if more else None
    return views.JSONResponse({"entries": [dict(r) for r in page], "next_cursor": next_cursor})
