"""`/v1/stats` and `/v1/attention`: the Overview page's numbers.

Stats read only the per-minute rollups the leader writes (``jobq_minute_stats``), so
every open dashboard gets the same numbers and none of them counts jobs. Attention adds
what only a live look can tell: the oldest ready job of each queue, and which job types
a live worker serves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from jobq_core.model import attention
from jobq_core.model.stats import MINUTE, Window, buckets
from jobq_core.pg import stats
from jobq_core.pg.apikeys import ApiKey, Scope

from .. import views
from ..auth import require
from ..models import AttentionOut, StatsOut

router = APIRouter(tags=["stats"])
read = Depends(require(Scope.JOBS_READ))

_NUMBERS = ("succeeded", "failed", "dead", "run_ms_p50", "run_ms_p95", "wait_ms_p50", "wait_ms_p95")


def _numbers(row: asyncpg.Record | None) -> dict[str, Any]:
    """A row of `stats_window` as the API's numbers; None (no rolled-up minute) as zeros."""
    if row is None:
        out: dict[str, Any] = {name: None if "_ms_" in name else 0 for name in _NUMBERS}
        minutes = 0
    else:
        out = {name: row[name] for name in _NUMBERS}
        minutes = row["minutes"]
    completed = out["succeeded"] + out["dead"]
    return {
        "minutes": minutes,
        "completed": completed,
        **out,
        "throughput_per_min": completed / minutes if minutes else None,
    }


def _series(by_start: dict[datetime | None, asyncpg.Record], starts: Sequence[datetime]) -> dict[str, Any]:
    return {
        "summary": _numbers(by_start.get(None)),
        "buckets": [{"start": start, **_numbers(by_start.get(start))} for start in starts],
    }


@router.get("/v1/stats", response_model=StatsOut, summary="Throughput, failures and latencies over a window")
async def get_stats(
    request: Request,
    window: Annotated[
        Window, Query(description="1h in 1-minute buckets, 24h in 15-minute ones, 7d in hours.")
    ] = Window.HOUR,
    _: ApiKey = read,
) -> Response:
    """Per queue and in all: a series of buckets and the window's summary, summed from the
    per-minute rollups. Percentiles across minutes are approximate (p50: the samples-weighted
    mean of the minutes' p50; p95: the highest minute's p95)."""
    pool = request.app.state.pool
    rolled_until, db_now = await stats.watermark(pool)
    latest = rolled_until - MINUTE if rolled_until is not None else None
    starts = buckets(window, latest, db_now)
    start, end = starts[0], starts[-1] + window.bucket
    rows = await stats.window(pool, start, end, window.bucket.total_seconds())
    by_queue: dict[str | None, dict[datetime | None, asyncpg.Record]] = {}
    for row in rows:
        by_queue.setdefault(row["queue"], {})[row["start"]] = row
    total = by_queue.pop(None, {})
    return views.JSONResponse(
        {
            "window": str(window),
            "bucket_s": int(window.bucket.total_seconds()),
            "start": start,
            "end": end,
            "rolled_up_until": rolled_until,
            "total": _series(total, starts),
            "queues": [{"queue": queue, **_series(by_queue[queue], starts)} for queue in sorted(by_queue, key=str)],
        }
    )


@router.get("/v1/attention", response_model=AttentionOut, summary="What needs attention")
async def get_attention(request: Request, _: ApiKey = read) -> Response:
    """Queues waiting past their latency target, failures rising, job types no live worker
    serves, dead jobs growing; each with a sentence and its numbers."""
    settings = request.app.state.settings
    pool = request.app.state.pool
    waits, trends, unserved, alive = await stats.attention_inputs(pool, settings.worker_timeout_s)
    rolled_until, _db_now = await stats.watermark(pool)
    items = attention.assess(
        waits,
        trends,
        unserved,
        alive,
        default_target_s=settings.queue_latency_target_s,
        targets=settings.latency_targets,
    )
    return views.JSONResponse(
        {
            "items": [
                {"kind": str(i.kind), "queue": i.queue, "type": i.type, "message": i.message, "numbers": i.numbers}
                for i in items
            ],
            "rolled_up_until": rolled_until,
        }
    )
