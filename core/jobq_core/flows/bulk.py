"""Carrying out a confirmed bulk operation, one batch at a time (the leader's `bulk` duty).

A batch reads the ids of the next `BATCH` matching jobs, newest first from the
operation's position, through the same index-backed reads as the job list; then, in one
short transaction, changes those still in a state the action applies to (the guarded
statements of ``sql/bulk.sql``, which skip rows a worker holds rather than wait) and
moves the position past them. A job whose state moved since the read is counted
`skipped`. Nothing is locked between batches, so workers claim and finish jobs
throughout, and a new leader goes on from the last committed position. What Redis must
hear (retried jobs to send, running ones to stop, new priorities) is sent after the
commit; a retried job Redis did not get waits for the dispatch relay, as any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence

import asyncpg

from jobq_core.dispatch.channel import DispatchChannel
from jobq_core.errors import RedisUnavailable
from jobq_core.flows.submit import dispatch_of, dispatch_waiting
from jobq_core.model.states import JobStatus
from jobq_core.pg import job_search
from jobq_core.pg.db import Q, unavailable_as_error
from jobq_core.pg.store import Connection

BATCH = 500
"""Jobs per batch: one transaction of a few milliseconds, its row locks held that long."""
PAUSE_S = 0.1
"""Rest between batches, so an operation takes its share of a small machine rather than
all of it: unpaced, a bulk retry took both cores for 10 s (10,000 jobs a second); paced,
100,000 take 29 s and single submits' p99 beside it stays within 2× on two cores
(bench/at_scale.py --only bulk)."""

_STATEMENTS = {
    "cancel": ("bulk_cancel_waiting_jobs", "bulk_request_cancel_running_jobs"),
    "retry": ("bulk_retry_jobs",),
    "delete": ("bulk_delete_jobs",),
    "set_priority": ("bulk_set_priority",),
}


async def run_batch(pool: asyncpg.Pool, channel: DispatchChannel, batch: int = BATCH) -> bool:
    """Carry out one batch of the oldest running operation; False when none is running."""
    async with unavailable_as_error():
        op = await pool.fetchrow(Q["oldest_running_bulk_operation"])
    if op is None:
        return False
    filters = job_search.filter_from_json(op["search"])
    position = (op["position_at"], op["position_id"])
    page = await job_search.list_jobs(pool, filters, limit=batch, after=position, columns="id, created_at")
    ids = [row["id"] for row in page]
    async with unavailable_as_error(), pool.acquire() as conn, conn.transaction():
        if await conn.fetchval(Q["lock_bulk_operation_at"], op["id"], *position) is None:
            return True  # cancelled, or another leader's batch moved it on: read it again
        changed = await _apply(conn, op, ids) if ids else []
        last = page[-1] if page else None
        await conn.execute(
            Q["advance_bulk_operation"],
            op["id"],
            last["created_at"] if last else position[0],
            last["id"] if last else position[1],
            len(ids),
            len(changed),
            len(ids) < batch,
        )
    await _tell_redis(pool, channel, op["action"], changed)
    return True


async def _apply(conn: Connection, op: asyncpg.Record, ids: Sequence[uuid.UUID]) -> list[asyncpg.Record]:
    """Make the operation's change to those of `ids` it still applies to; the rows changed."""
    args = (list(ids), op["priority"]) if op["action"] == "set_priority" else (list(ids),)
    changed: list[asyncpg.Record] = []
    for name in _STATEMENTS[op["action"]]:
        changed += await conn.fetch(Q[name], *args)
    return changed


async def _tell_redis(pool: asyncpg.Pool, channel: DispatchChannel, action: str, changed: list[asyncpg.Record]) -> None:
    """After the commit: send retried jobs, stop running ones, re-rank re-prioritised ones."""
    if not changed:
        return
    if action == "retry":
        await dispatch_waiting(pool, channel, changed)
    elif action == "cancel":
        # Best effort, as for one job: a worker also sees the request on its heartbeat.
        with contextlib.suppress(RedisUnavailable):
            for row in changed:
                if row["was_running"]:
                    await channel.publish_control(
                        {"kind": "cancel", "job_id": str(row["id"]), "attempt": row["attempts"]}
                    )
    elif action == "set_priority":
        # A message a worker has not taken yet moves to its new place; a scheduled job
        # takes the new priority with it when it comes due.
        with contextlib.suppress(RedisUnavailable):
            await channel.rescore([dispatch_of(row) for row in changed if row["status"] == JobStatus.QUEUED])


async def run_until_idle(
    pool: asyncpg.Pool, channel: DispatchChannel, batch: int = BATCH, pause: float = PAUSE_S
) -> int:
    """Run batches, `pause` seconds apart, until no operation is running; return how many ran."""
    batches = 0
    while await run_batch(pool, channel, batch):
        batches += 1
        await asyncio.sleep(pause)
    return batches
