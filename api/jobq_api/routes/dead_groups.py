"""`/v1/dead-groups`: dead jobs grouped by how they failed, and a group retried at once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import Response

from jobq_core.flows.dead_groups import RETRY_CAP, SCAN_LIMIT, dead_groups, retry_group
from jobq_core.pg import audit
from jobq_core.pg.apikeys import ApiKey, Scope

from .. import views
from ..auth import require
from ..models import DeadGroupListOut, DeadGroupRetryIn, DeadGroupRetryOut, Text
from ..problems import Problem

router = APIRouter(prefix="/v1/dead-groups", tags=["dead-groups"])
Fingerprint = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="A group's `fingerprint`.")]
QueueFilter = Annotated[Text | None, Query(max_length=100, description="Only dead jobs of this queue.")]
TypeFilter = Annotated[Text | None, Query(max_length=200, description="Only dead jobs of this job type.")]


@router.get("", response_model=DeadGroupListOut, summary="Dead jobs grouped by error")
async def list_groups(
    request: Request,
    queue: QueueFilter = None,
    type: TypeFilter = None,
    _: ApiKey = Depends(require(Scope.JOBS_READ)),
) -> Response:
    """Groups of dead jobs with the same job type, error type and message (once ids,
    numbers, times, quoted strings and e-mail addresses are set aside), the largest first.

    Counted over the newest dead jobs only, at most `scanned` of them; `truncated` says
    older ones were not read.
    """
    found = await dead_groups(request.app.state.pool, queue=queue, type=type)
    groups = [
        {
            "fingerprint": g.fingerprint,
            "type": g.type,
            "error_type": g.error_type,
            "message_pattern": g.message_pattern,
            "sample_message": g.sample_message,
            "count": g.count,
            "first_finished_at": g.first_finished_at,
            "last_finished_at": g.last_finished_at,
            "sample_job_ids": [str(i) for i in g.sample_job_ids],
        }
        for g in found.groups
    ]
    return views.JSONResponse({"groups": groups, "scanned": found.scanned, "truncated": found.truncated})


@router.post(
    "/{fingerprint}/retry",
    response_model=DeadGroupRetryOut,
    responses={404: {"description": "No dead job with this fingerprint among the newest dead jobs."}},
    summary="Retry a group of dead jobs",
)
async def retry(
    request: Request,
    fingerprint: Fingerprint,
    body: Annotated[DeadGroupRetryIn | None, Body()] = None,
    queue: QueueFilter = None,
    type: TypeFilter = None,
    key: ApiKey = Depends(require(Scope.JOBS_WRITE)),
) -> Response:
    """Send the group's dead jobs back to their queues, the longest dead first, each with
    one more attempt, as retrying one job does: `limit` of them, or all (up to the cap)
    without it. `queue` and `type` narrow the group as they narrow the listing."""
    limit = body.limit if body is not None and body.limit is not None else RETRY_CAP
    state = request.app.state
    result = await retry_group(state.pool, state.channel, fingerprint, limit=limit, queue=queue, type=type)
    if result is None:
        raise Problem(
            404,
            "not-found",
            "Not found",
            f"no dead job with fingerprint {fingerprint} among the newest {SCAN_LIMIT:,} dead jobs",
        )
    if not result.dispatched:
        state.redis_down = True  # the rows stay queued; the woken relay sends them
    detail = {"limit": limit, "queue": queue, "type": type, "retried": result.retried}
    await audit.record(state.pool, key, "dead_group.retry", fingerprint, detail)
    return views.JSONResponse(
        {
            "fingerprint": result.fingerprint,
            "retried": result.retried,
            "remaining": result.remaining,
            "scanned": result.scanned,
            "truncated": result.truncated,
        }
    )
