"""The cluster's background duties, each one idempotent step the leader repeats.

- promote: delayed jobs and retries whose time has come go from `scheduled` to
  `queued` and are dispatched.
- relay: queued jobs that are not in Redis are sent again (the enqueue script skips
  what Redis still holds, so a sweep may send everything).
- rescue: workers whose heartbeat stopped are marked gone and their running jobs go
  back to the queue, or to `dead` when that attempt was their last.
- schedules: due schedule slots become jobs.
- prune: finished jobs past retention are deleted in small batches.
"""

from __future__ import annotations

import logging
import secrets
import uuid

import asyncpg

from jobq_core import schedules
from jobq_core.db import Q, unavailable_as_error
from jobq_core.errors import RedisUnavailable
from jobq_core.names import EPOCH_KEY, arq_job_id
from jobq_core.queue import REDIS_ERRORS, QueueClient
from jobq_core.submit import dispatch_of, dispatch_waiting

from . import metrics
from .settings import WorkerSettings

log = logging.getLogger("jobq.leader")

PAGE = 1_000
PRUNE_BATCH = 500
WORKER_LOST = {
    "type": "WorkerLost",
    "message": "the worker running this attempt stopped heartbeating; the attempt was lost",
    "traceback": None,
}


class Duties:
    """The duty steps, over the worker's pool and Redis client."""

    def __init__(self, pool: asyncpg.Pool, queue: QueueClient, settings: WorkerSettings) -> None:
        self.pool, self.queue, self.settings = pool, queue, settings

    async def promote(self) -> int:
        """Queue and dispatch scheduled jobs that are due; return how many."""
        total = 0
        while True:
            async with unavailable_as_error():
                due = await self.pool.fetch(Q["promote_due_jobs"], PAGE)
            if due:
                await dispatch_waiting(self.pool, self.queue, due)
            total += len(due)
            if len(due) < PAGE:
                return total

    async def redis_was_emptied(self) -> bool:
        """Whether Redis lost its data since the last check (its epoch key is gone)."""
        try:
            return bool(await self.queue.redis.set(EPOCH_KEY, secrets.token_hex(8), nx=True))
        except REDIS_ERRORS as exc:
            raise RedisUnavailable(type(exc).__name__) from exc

    async def relay(self) -> int:
        """Send every queued job to Redis again; return how many Redis did not have."""
        after = uuid.UUID(int=0)
        sent = 0
        while True:
            async with unavailable_as_error():
                page = await self.pool.fetch(Q["queued_jobs_page"], after, PAGE)
            if not page:
                break
            dispatches = [dispatch_of(job) for job in page]
            held = await self.queue.held([arq_job_id(d.job_id, d.attempt) for d in dispatches])
            sent += await self.queue.enqueue([d for d, h in zip(dispatches, held, strict=True) if not h])
            after = page[-1]["id"]
        if sent:
            log.info("dispatch relay sent %d job(s) Redis did not have", sent)
        return sent

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
            await dispatch_waiting(self.pool, self.queue, moved)
        return len(moved)

    async def fire_schedules(self) -> int:
        """Turn due schedule slots into jobs; return jobs made."""
        return await schedules.fire_due(self.pool, self.queue)

    async def prune(self) -> int:
        """Delete finished jobs past retention, a batch at a time; return how many."""
        total = 0
        while True:
            async with unavailable_as_error():
                deleted = await self.pool.fetch(
                    Q["prune_finished_jobs"], self.settings.retention_s, self.settings.dead_retention_s, PRUNE_BATCH
                )
            total += len(deleted)
            if len(deleted) < PRUNE_BATCH:
                break
        async with unavailable_as_error():
            await self.pool.execute(Q["prune_stopped_workers"])
        if total:
            log.info("pruned %d finished job(s)", total)
        return total
