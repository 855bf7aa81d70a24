"""`/v1/bulk-operations`: one action for every job a filter matches, previewed, confirmed,
then carried out by the leader in batches (flows/bulk.py), with progress and cancel."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from jobq_core.pg import audit, bulk_operations, job_search
from jobq_core.pg.apikeys import ApiKey, Scope

from .. import payload_filter, views
from ..auth import require
from ..models import BulkFilterIn, BulkOperationIn, BulkOperationListOut, BulkOperationOut
from ..problems import Problem, conflict, not_found

router = APIRouter(prefix="/v1/bulk-operations", tags=["bulk operations"])
read = Depends(require(Scope.JOBS_READ))
write = Depends(require(Scope.JOBS_WRITE))

_FIELDS = tuple(BulkOperationOut.model_fields)


def _document(row: asyncpg.Record) -> dict[str, Any]:
    out = {name: row[name] for name in _FIELDS if name != "matched"}
    out["matched"] = {"value": row["matched"], "exact": row["matched_exact"]}
    return out


def _search(shown: BulkFilterIn) -> job_search.JobFilter:
    """The filter as the list reads it; a 422 naming `filter.payload[i]` for a bad payload filter."""
    return job_search.JobFilter(
        statuses=[str(s) for s in shown.status] if shown.status else None,
        type=shown.type,
        queue=shown.queue,
        tag=shown.tag,
        created_after=shown.created_after,
        created_before=shown.created_before,
        error=shown.error,
        payload=payload_filter.containment(shown.payload or [], field="filter.payload"),
    )


def _check_priority(body: BulkOperationIn) -> None:
    wanted = body.action == "set_priority"
    if wanted != (body.priority is not None):
        message = "required for set_priority" if wanted else f"only for set_priority, not {body.action}"
        raise Problem(
            422,
            "validation",
            "Invalid request",
            f"priority: {message}",
            errors=[{"field": "priority", "message": message}],
        )


@router.post("", status_code=201, response_model=BulkOperationOut, summary="Preview a bulk operation")
async def preview(request: Request, body: BulkOperationIn, key: ApiKey = write) -> Response:
    """Count the jobs the filter matches and record the operation as a `preview`; nothing
    changes until it is confirmed (`POST .../{id}/confirm`). The count is exact up to
    10,000 and an estimate above, as `GET /v1/jobs/count` gives it. A preview nobody
    confirms is forgotten after a day."""
    _check_priority(body)
    search = _search(body.filter)
    shown = body.filter.model_dump(mode="json", exclude_none=True)
    row = await bulk_operations.preview(
        request.app.state.pool, key, body.action, search, shown_filter=shown, priority=body.priority
    )
    return views.JSONResponse(_document(row), status_code=201, headers={"Location": f"/v1/bulk-operations/{row['id']}"})


@router.get("", response_model=BulkOperationListOut, summary="List bulk operations")
async def list_operations(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    _: ApiKey = read,
) -> Response:
    """Bulk operations newest first, kept for 30 days after they end."""
    position = views.decode_position(cursor, uuid.UUID, "GET /v1/bulk-operations") if cursor else None
    rows = await bulk_operations.newest(request.app.state.pool, limit=limit + 1, after=position)
    page, more = rows[:limit], len(rows) > limit
    next_cursor = views.encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None
    return views.JSONResponse({"operations": [_document(r) for r in page], "next_cursor": next_cursor})


@router.get("/{operation_id}", response_model=BulkOperationOut, summary="Read a bulk operation")
async def get_operation(request: Request, operation_id: uuid.UUID, _: ApiKey = read) -> Response:
    """The operation with its progress: jobs looked at, changed and skipped so far."""
    row = await bulk_operations.get(request.app.state.pool, operation_id)
    if row is None:
        raise not_found("bulk operation")
    return views.JSONResponse(_document(row))


async def _refusal(pool: asyncpg.Pool, operation_id: uuid.UUID, action: str) -> Problem:
    current = await bulk_operations.get(pool, operation_id)
    if current is None:
        return not_found("bulk operation")
    return conflict(
        f"a bulk operation that is {current['status']} cannot be {action}", operation_status=current["status"]
    )


@router.post("/{operation_id}/confirm", response_model=BulkOperationOut, summary="Confirm a bulk operation")
async def confirm(request: Request, operation_id: uuid.UUID, key: ApiKey = write) -> Response:
    """Start a previewed operation: the leader changes the matching jobs, newest first, a
    batch of 500 at a time. Jobs submitted after this are not touched; a job whose state
    moved meanwhile is skipped (counted in `skipped`). 409 unless it is a preview."""
    pool = request.app.state.pool
    row = await bulk_operations.confirm(pool, operation_id)
    if row is None:
        raise await _refusal(pool, operation_id, "confirmed")
    detail = {"action": row["action"], "filter": row["filter"], "matched": row["matched"]}
    if row["priority"] is not None:
        detail["priority"] = row["priority"]
    await audit.record(pool, key, "bulk.confirm", str(operation_id), detail)
    return views.JSONResponse(_document(row))


@router.post("/{operation_id}/cancel", response_model=BulkOperationOut, summary="Cancel a bulk operation")
async def cancel(request: Request, operation_id: uuid.UUID, key: ApiKey = write) -> Response:
    """Stop an operation: no batch starts after this answers (what earlier batches changed
    stays changed). A preview is dropped. 409 when it has already ended."""
    pool = request.app.state.pool
    row = await bulk_operations.cancel(pool, operation_id)
    if row is None:
        raise await _refusal(pool, operation_id, "cancelled")
    await audit.record(pool, key, "bulk.cancel", str(operation_id), {"processed": row["processed"]})
    return views.JSONResponse(_document(row))
