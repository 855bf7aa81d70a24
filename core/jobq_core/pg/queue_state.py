"""What the autoscaler sees of the queues, read from PostgreSQL.

PostgreSQL is the source of truth for "ready". A job is ready when its row is
``queued`` (or ``scheduled`` with its run time passed and not yet promoted), in a queue
that is not paused. ARQ's Redis sorted set is the wrong thing to count: ARQ keeps a job
in the set while it runs (only an ``arq:in-progress:`` key tells it apart), jobq's
scores are backdated by priority so they give no age, a paused queue's messages sit
there unclaimable, and after a Redis restart the set is empty until the relay re-sends
committed rows. (The scalers still ping Redis: with Redis down no worker can receive a
job, so adding workers would not help.)

The rates (arrivals: rows created; completions: rows finished) and the mean duration
of recently finished jobs come from the same query, over a sliding window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from jobq_core.model.autoscale import Observation

from .db import Q, unavailable_as_error


@dataclass(frozen=True)
class QueueState:
    """The queues' numbers at one moment, plus what they imply for the policy."""

    ready: int
    running: int
    scheduled: int
    oldest_ready_age_s: float
    arrival_rate: float
    completion_rate: float
    mean_duration_s: float | None

    def observation(self, at: float) -> Observation:
        """The policy's input for this state, observed at `at`."""
        return Observation(
            at=at,
            ready=self.ready,
            running=self.running,
            oldest_ready_age_s=self.oldest_ready_age_s,
            arrival_rate=self.arrival_rate,
            completion_rate=self.completion_rate,
            mean_duration_s=self.mean_duration_s,
            scheduled=self.scheduled,
        )


async def queue_state(pool: asyncpg.Pool, queues: Sequence[str], window_s: float) -> QueueState:
    """Read the state of `queues`; rates over the last `window_s` seconds.

    Raises :class:`~jobq_core.errors.DatabaseUnavailable` when PostgreSQL cannot be reached.
    """
    async with unavailable_as_error():
        row = await pool.fetchrow(Q["autoscale_queue_state"], list(queues), window_s)
    assert row is not None  # an aggregate always returns a row
    return QueueState(
        ready=int(row["ready"]),
        running=int(row["running"]),
        scheduled=int(row["scheduled"]),
        oldest_ready_age_s=float(row["oldest_ready_age_s"]),
        arrival_rate=int(row["arrived"]) / window_s,
        completion_rate=int(row["completed"]) / window_s,
        mean_duration_s=row["mean_duration_s"],
    )


@dataclass(frozen=True)
class WorkerLoad:
    """Running jobs of one live worker process, by the host it runs on."""

    hostname: str
    pid: int
    running: int


async def worker_load(pool: asyncpg.Pool, alive_within_s: float) -> list[WorkerLoad]:
    """Live workers (heartbeat within `alive_within_s`) and how many jobs each runs."""
    async with unavailable_as_error():
        rows = await pool.fetch(Q["autoscale_worker_load"], alive_within_s)
    return [WorkerLoad(r["hostname"], r["pid"], int(r["running"])) for r in rows]
