"""Cancelling a job: one that waits will not run; a running one is told to stop."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass

import asyncpg

from jobq_core.dispatch.channel import DispatchChannel
from jobq_core.errors import RedisUnavailable
from jobq_core.pg import store


@dataclass(frozen=True)
class Cancelled:
    """The job as it is now, and whether it was running (then it stops cooperatively)."""

    job: asyncpg.Record
    was_running: bool


async def cancel(pool: asyncpg.Pool, channel: DispatchChannel, job_id: uuid.UUID) -> Cancelled | None:
    """Cancel `job_id`; None when it neither waits nor runs (finished, or no such job)."""
    job = await store.cancel_waiting(pool, job_id)
    if job is not None:
        return Cancelled(job, was_running=False)
    running = await store.request_cancel(pool, job_id)
    if running is None:
        return None
    with contextlib.suppress(RedisUnavailable):  # the worker also polls for it on its heartbeat
        await channel.publish_control({"kind": "cancel", "job_id": str(job_id), "attempt": running["attempts"]})
    return Cancelled(running, was_running=True)
