"""Per-minute rollups in PostgreSQL: written by the leader, read by `GET /v1/stats` and
`GET /v1/attention` (queries in ``sql/minute_stats.sql``; what to roll up and the windows
are :mod:`jobq_core.model.stats`)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from jobq_core.model import attention
from jobq_core.model.stats import Span

from .db import Q, unavailable_as_error
from .store import Executor


async def watermark(db: Executor) -> tuple[datetime | None, datetime]:
    """(the end of the latest minute rolled up or None, the database's clock)."""
    async with unavailable_as_error():
        row = await db.fetchrow(Q["minute_stats_watermark"])
    assert row is not None
    return row["rolled_until"], row["db_now"]


async def roll_up(db: Executor, span: Span) -> int:
    """Roll up each minute of `span`, one statement per minute; return how many."""
    minutes = span.minutes()
    for minute in minutes:
        async with unavailable_as_error():
            await db.execute(Q["roll_up_minute"], minute)
    return len(minutes)


async def prune(db: Executor, older_than_s: float) -> None:
    """Delete minute rows older than `older_than_s` seconds."""
    async with unavailable_as_error():
        await db.execute(Q["prune_minute_stats"], older_than_s)


async def window(db: Executor, start: datetime, end: datetime, bucket_s: float) -> list[asyncpg.Record]:
    """The minutes in [start, end) summed per queue and bucket, per queue, per bucket and in all."""
    async with unavailable_as_error():
        return await db.fetch(Q["stats_window"], start, end, bucket_s)


async def attention_inputs(
    db: Executor, worker_timeout_s: float
) -> tuple[list[attention.QueueWait], list[attention.QueueTrend], list[attention.UnservedType], int]:
    """What :func:`jobq_core.model.attention.assess` judges: waits, trends, unserved types, live workers."""
    async with unavailable_as_error():
        waits = await db.fetch(Q["attention_waits"])
        trends = await db.fetch(
            Q["attention_trends"],
            attention.RECENT_MINUTES,
            attention.EARLIER_MINUTES,
            attention.DEAD_LOOKBACK_MINUTES,
        )
        unserved = await db.fetch(Q["attention_unserved_types"], worker_timeout_s)
        alive = await db.fetchval(Q["alive_workers"], worker_timeout_s)
    return (
        [attention.QueueWait(r["queue"], r["ready"], r["oldest_ready_age_s"]) for r in waits],
        [
            attention.QueueTrend(
                r["queue"],
                r["recent_failed"],
                r["recent_minutes"],
                r["earlier_failed"],
                r["earlier_minutes"],
                r["dead_now"],
                r["dead_before"],
            )
            for r in trends
        ],
        [attention.UnservedType(r["name"], r["queue"]) for r in unserved],
        int(alive),
    )
