"""`/v1/queues`: per-queue state, pause and resume."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from jobq_core.errors import RedisUnavailable
from jobq_core.pg import audit
from jobq_core.pg.apikeys import ApiKey, Scope
from jobq_core.pg.db import Q, unavailable_as_error

from .. import views
from ..auth import require
from ..models import NAME_PATTERN, QueueListOut, QueueOut

router = APIRouter(prefix="/v1/queues", tags=["queues"])
QueueName = Annotated[str, Path(max_length=100, pattern=NAME_PATTERN)]


def _queue(row: dict[str, object]) -> dict[str, object]:
    return {
        "name": row["queue"],
        "ready": row["ready"],
        "scheduled": row["scheduled"],
        "running": row["running"],
        "dead": row["dead"],
        "oldest_ready_age_s": row["oldest_ready_age_s"],
        "paused": row["paused"],
    }


async def _stats(request: Request) -> list[dict[str, object]]:
    async with unavailable_as_error():
        rows = await request.app.state.pool.fetch(Q["queue_stats"])
    return [_queue(dict(r)) for r in rows]


@router.get("", response_model=QueueListOut, summary="List queues")
async def list_queues(request: Request, _: ApiKey = Depends(require(Scope.JOBS_READ))) -> Response:
    """Every queue: ready, scheduled, running and dead counts, oldest ready age, paused."""
    return views.JSONResponse({"queues": await _stats(request)})


async def _set_paused(request: Request, key: ApiKey, name: str, paused: bool) -> Response:
    async with unavailable_as_error():
        await request.app.state.pool.execute(Q["set_queue_paused"], name, paused)
        if not paused:
            # Deliveries that reached workers while the queue was paused were dropped by
            # the claim; the dispatch relay sends those jobs again.
            await request.app.state.pool.execute(Q["wake_relay"])
    await audit.record(request.app.state.pool, key, "queue.pause" if paused else "queue.resume", name)
    with contextlib.suppress(RedisUnavailable):  # workers also re-read it on heartbeat
        await request.app.state.channel.publish_control({"kind": "queues"})
    queue = next(q for q in await _stats(request) if q["name"] == name)
    return views.JSONResponse(queue)


@router.post("/{name}/pause", response_model=QueueOut, summary="Pause a queue")
async def pause(request: Request, name: QueueName, key: ApiKey = Depends(require(Scope.ADMIN))) -> Response:
    """Stop starting jobs from this queue; they wait until it is resumed."""
    return await _set_paused(request, key, name, True)


@router.post("/{name}/resume", response_model=QueueOut, summary="Resume a queue")
async def resume(request: Request, name: QueueName, key: ApiKey = Depends(require(Scope.ADMIN))) -> Response:
    """Start jobs from this queue again."""
    return await _set_paused(request, key, name, False)
