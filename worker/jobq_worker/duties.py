"""The cluster's background duties, each one idempotent step the leader repeats.

- promote: delayed jobs and retries whose time has come go from `scheduled` to
  `queued` and are dispatched.
- relay: queued jobs that are not in Redis are sent again (the enqueue script skips
  what Redis still holds, so a sweep may send everything): those put to wait since a
  time, or all of them.
- rescue: workers whose heartbeat stopped are marked gone and their running jobs go
  back to the queue, or to `dead` when that attempt was their last.
- schedules: due schedule slots become jobs.
- prune: finished jobs past retention are deleted in small batches, and minute rollups
  and bulk operations past theirs.
- bulk: confirmed bulk operations are carried out, a batch at a time (flows/bulk.py).
- roll_up: each minute that is over becomes one row per queue in jobq_minute_stats
  (the dashboard's numbers), catching up on at most the last hour after a leader change;
  and the deltas of each queue's dead jobs are folded into its total.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from datetime import UTC, datetime

import asyncpg

from jobq_core.dispatch.channel import DispatchChannel
from jobq_core.flows import bulk, schedules
from jobq_core.flows.submit import dispatch_of, dispatch_waiting
from jobq_core.model import stats as rollups
from jobq_core.names import arq_job_id
from jobq_core.pg import bulk_operations, stats
from jobq_core.pg.db import Q, unavailable_as_error

from . import metrics
from .settings import WorkerServiceSettings

log = logging.getLogger("jobq.leader")

PAGE = 1_000
EVERY_QUEUED_JOB = datetime(1970, 1, 1, tzinfo=UTC)
"""A relay sweep from this time reads every queued job."""
PRUNE_BATCH = 500
WORKER_LOST = {
    "type": "WorkerLost",
    "message": "the worker running this attempt stopped heartbeating; the attempt was lost",
    "traceback": None,
}


class Duties:
    """The duty steps, over the worker's pool and Redis client."""

    def __init__(self, pool: asyncpg.Pool, channel: DispatchChannel, settings: WorkerServiceSettings) -> None:
        self.pool, self.channel, self.settings = pool, channel, settings

    async def promote(self) -> int:
        """Queue and dispatch scheduled jobs that are due; return how many."""
        total = 0
        while True:
            async with unavailable_as_error():
                due = await self.pool.fetch(Q["promote_due_jobs"], PAGE)
            if due:
                await dispatch_waiting(self.pool, self.channel, due)
            total += len(due)
            if len(due) < PAGE:
                return total

    async def redis_was_emptied(self) -> bool:
        """Whether Redis lost its data since the last check (its epoch key is gone)."""
        return await self.channel.was_emptied(secrets.token_hex(8))

    async def relay(self, since: datetime = EVERY_QUEUED_JOB) -> datetime:
        """Send Redis the jobs put to wait at `since` or later that it does not hold (by
        default every queued job); return PostgreSQL's time when the sweep began."""
        async with unavailable_as_error():
            began: datetime = await self.pool.fetchval("SELECT now()")
        after = (since, uuid.UUID(int=0))
        sent = 0
        while True:
            async with unavailable_as_error():
                page = await self.pool.fetch(Q["queued_jobs_page"], *after, PAGE)
            if not page:
                break
            dispatches = [dispatch_of(job) for job in page]
            held = await self.channel.held([arq_job_id(d.job_id, d.attempt) for d in dispatches])
            sent += await self.channel.enqueue([d for d, h in zip(dispatches, held, strict=True) if not h])
            after = (page[-1]["run_at"], page[-1]["id"])
        if sent:
            log.info("dispatch relay sent %d job(s) Redis did not have", sent)
        return began

    async def rescue(self) -> int:
        """Mark silent workers gone and rescue their running jobs; return jobs rescued."""
        async with unavailable_as_error():
            lost = await self.pool.fetch(Q["mark_lost_workers"], self.settings.worker_timeout_s)
            moved = await self.pool.fetch(Q["rescue_jobs"], WORKER_LOST)
        if lost:
            log.warning(
                "workers gone (no heartbeat for %.0fs): %s",
                self.settings.worker_timeout_s,
                ", ".join(r["id"] for r in lost),
            )
        if moved:
            log.warning("rescued %d job(s) from gone workers", len(moved))
            metrics.attempts_lost(moved)
            await dispatch_waiting(self.pool, self.channel, moved)
        return len(moved)

    async def fire_schedules(self) -> int:
        """Turn due schedule slots into jobs; return jobs made."""
        return await schedules.fire_due(self.pool, self.channel)

    async def prune(self) -> int:
        """Delete finished jobs past retention, a batch at a time; return how many."""
        total = 0
        for statement, retention_s in (
            ("prune_done_jobs", self.settings.retention_s),
            ("prune_dead_jobs", self.settings.dead_retention_s),
        ):
            while True:
                async with unavailable_as_error():
                    deleted = await self.pool.fetch(Q[statement], retention_s, PRUNE_BATCH)
                total += len(deleted)
                if len(deleted) < PRUNE_BATCH:
                    break
        async with unavailable_as_error():
            await self.pool.execute(Q["prune_stopped_workers"])
        await stats.prune(self.pool, rollups.RETENTION.total_seconds())
        await bulk_operations.prune(self.pool)
        if total:
            log.info("pruned %d finished job(s)", total)
        return total

    async def bulk(self) -> int:
        """Run bulk operations' batches until none is running; return how many batches ran."""
        return await bulk.run_until_idle(self.pool, self.channel)

    async def roll_up(self, now: datetime | None = None) -> int:
        """Roll up the minutes that are over and not rolled up yet; return how many.

        `now` defaults to the database's clock; a test passes its own to close a minute
        without waiting for it.
        """
        async with unavailable_as_error():
            await self.pool.execute(Q["fold_dead_counts"])  # keeps the count of dead jobs a few rows long
        rolled_until, db_now = await stats.watermark(self.pool)
        span = rollups.to_roll_up(rolled_until, now or db_now)
        return await stats.roll_up(self.pool, span) if span else 0
