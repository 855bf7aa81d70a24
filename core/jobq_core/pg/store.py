"""The job store: every read and state change of jobs in PostgreSQL.

Functions take a pool or connection and return plain records. Each state change is a
guarded UPDATE from ``sql/jobs.sql``: it names the state it leaves, so a change that
lost a race changes nothing and returns None.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from jobq_core.model.states import JobStatus
from jobq_core.pg.db import Q, unavailable_as_error

Connection = asyncpg.Connection | PoolConnectionProxy
Executor = asyncpg.Pool | Connection


# Not frozen: a frozen dataclass's __init__ took three times as long, and a batch
# submit builds a thousand of these per call.
@dataclass(slots=True)
class NewJob:
    """A job ready to insert: validated, with every default filled in.

    orjson encodes it as the JSON row `insert_jobs` reads: the field names are the
    columns, and orjson writes the UUID, the datetime and the status as PostgreSQL
    reads them, several times faster than building a dict per job did.
    """

    id: uuid.UUID
    type: str
    queue: str
    status: JobStatus
    payload: Any
    priority: int
    max_attempts: int
    timeout_s: float
    idempotency_key: str | None
    tags: list[str]
    run_at: datetime
    trace_context: dict[str, str] | None = None
    cloned_from: uuid.UUID | None = None
    schedule_id: uuid.UUID | None = None
    # ARQ's envelope of a job an ARQ producer enqueued (migration 0006); None otherwise.
    arq: dict[str, Any] | None = None


class _JobIds:
    """Job ids: time-ordered UUIDs (RFC 9562 version 7), a millisecond timestamp then
    74 random bits.

    Time-ordered ids go in at the right edge of the primary key's B-tree rather than
    on random pages: PostgreSQL spent 10-20% less CPU per inserted job than with
    ``uuid.uuid4()``, and one read of the OS's random source per id cost more than the
    rest of building a job, so random bits are read for 256 ids at a time.
    Thread-safe (``list.pop`` is atomic); a forked child drops the bits its parent read.
    """

    BLOCK = 256
    _CLEAR = ~((0xF << 76) | (0x3 << 62))  # the version and variant bits
    _SET = (0x7 << 76) | (0x2 << 62)  # version 7, RFC 9562 variant

    def __init__(self) -> None:
        self._random: list[int] = []
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._random = []

    def __call__(self) -> uuid.UUID:
        try:
            bits = self._random.pop()
        except IndexError:
            block = os.urandom(10 * self.BLOCK)
            self._random = [int.from_bytes(block[i : i + 10], "big") for i in range(0, len(block), 10)]
            bits = self._random.pop()
        return uuid.UUID(int=((time.time_ns() // 1_000_000) << 80 | bits) & self._CLEAR | self._SET)


new_job_id = _JobIds()
"""A new job's id."""


@dataclass
class Inserted:
    """The outcome of inserting jobs: each job in request order, and whether it is new."""

    jobs: list[asyncpg.Record] = field(default_factory=list)
    created: list[bool] = field(default_factory=list)


async def insert_jobs(conn: Executor, new_jobs: Sequence[NewJob]) -> Inserted:
    """Insert `new_jobs` in one statement; jobs whose idempotency key exists are not.

    The statement is all or nothing by itself; run it inside the caller's transaction
    when more must commit with it. A concurrent insert of the same key waits for the
    other transaction and then finds its row, so a key never makes two jobs, and a key
    repeated within `new_jobs` makes one job that every repeat returns. The statement
    marks its transaction as one whose jobs the caller dispatches (the setting
    ``jobq.dispatches``), so the dispatch relay is not woken.
    """
    if not new_jobs:
        return Inserted()
    # Insert in idempotency-key order: concurrent batches that share keys then wait on
    # each other's keys in one order, which cannot deadlock.
    ordered = sorted(new_jobs, key=lambda j: j.idempotency_key or "")
    async with unavailable_as_error():
        rows = await conn.fetch(Q["insert_jobs"], ordered)
        by_id = {r["id"]: r for r in rows}
        missing_keys = [j.idempotency_key for j in new_jobs if j.id not in by_id and j.idempotency_key]
        by_key = {}
        if missing_keys:
            existing = await conn.fetch(Q["jobs_by_idempotency_key"], missing_keys)
            by_key = {r["idempotency_key"]: r for r in existing}
    out = Inserted()
    for job in new_jobs:
        if job.id in by_id:
            out.jobs.append(by_id[job.id])
            out.created.append(True)
        else:
            out.jobs.append(by_key[job.idempotency_key])
            out.created.append(False)
    return out


async def get_job(db: Executor, job_id: uuid.UUID) -> asyncpg.Record | None:
    """The job row, or None."""
    async with unavailable_as_error():
        return await db.fetchrow(Q["get_job"], job_id)


async def existing_ids(db: Executor, job_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of `job_ids` are jobs."""
    async with unavailable_as_error():
        rows = await db.fetch(Q["existing_job_ids"], list(job_ids))
    return {r["id"] for r in rows}


async def job_attempts(db: Executor, job_id: uuid.UUID) -> list[asyncpg.Record]:
    """The finished attempts of a job, oldest first."""
    async with unavailable_as_error():
        return await db.fetch(Q["job_attempts"], job_id)


Attempt = tuple[uuid.UUID, int]


async def claim_many(
    db: Executor, worker_id: str, deliveries: Sequence[tuple[Attempt, object]]
) -> dict[Attempt, asyncpg.Record]:
    """Move waiting jobs to running, one attempt each; the claimed ones by (job id, attempt).

    A delivery whose job is already claimed, finished or cancelled (or whose queue is
    paused) claims nothing: it is stale and the caller drops it.

    Takes (key, anything) pairs, the shape a worker's group writer hands over.
    """
    ordered = sorted(d for d, _ in deliveries)
    async with unavailable_as_error():
        rows = await db.fetch(Q["claim_jobs"], worker_id, [d[0] for d in ordered], [d[1] for d in ordered])
    return {(r["id"], r["attempts"]): r for r in rows}


async def finish_succeeded_many(db: Executor, outcomes: Sequence[tuple[Attempt, Any]]) -> dict[Attempt, bool]:
    """Record the success of attempts with their results; those still ours map to True."""
    ordered = sorted(outcomes, key=lambda o: o[0])
    async with unavailable_as_error():
        rows = await db.fetch(
            Q["finish_succeeded_jobs"],
            [a[0][0] for a in ordered],
            [a[0][1] for a in ordered],
            [a[1] for a in ordered],
        )
    return {(r["job_id"], r["attempt"]): True for r in rows}


async def finish_failed(
    db: Executor,
    job_id: uuid.UUID,
    attempt: int,
    next_status: JobStatus,
    retry_in_s: float,
    error: dict[str, Any],
) -> datetime | None:
    """Record a failed `attempt` and move the job on; return its next run time.

    Returns None when the job was no longer ours (cancelled or rescued meanwhile).
    """
    async with unavailable_as_error():
        row = await db.fetchrow(Q["finish_failed"], job_id, attempt, str(next_status), retry_in_s, error)
    return None if row is None else row["run_at"]


async def set_progress(db: Executor, job_id: uuid.UUID, attempt: int, fraction: float, message: str | None) -> bool:
    """Store progress of a running attempt."""
    async with unavailable_as_error():
        return await db.fetchval(Q["set_progress"], job_id, attempt, fraction, message) is not None


async def cancel_waiting(db: Executor, job_id: uuid.UUID) -> asyncpg.Record | None:
    """Cancel a job that has not started; None when it is not waiting."""
    async with unavailable_as_error():
        return await db.fetchrow(Q["cancel_waiting_job"], job_id)


async def retry(db: Executor, job_id: uuid.UUID) -> asyncpg.Record | None:
    """Send a dead or cancelled job back to the queue; None when it is neither."""
    async with unavailable_as_error():
        return await db.fetchrow(Q["retry_job"], job_id)


async def run_now(db: Executor, job_id: uuid.UUID) -> asyncpg.Record | None:
    """Make a scheduled job due now (queued, to be dispatched); None when it is not scheduled."""
    async with unavailable_as_error():
        return await db.fetchrow(Q["run_now_job"], job_id)


async def delete(db: Executor, job_id: uuid.UUID) -> bool:
    """Delete a job that is not running."""
    async with unavailable_as_error():
        return await db.fetchval(Q["delete_job"], job_id) is not None


async def hand_back(db: Executor, job_id: uuid.UUID, attempt: int) -> asyncpg.Record | None:
    """Return an interrupted running attempt to the queue, uncounted; None if not ours."""
    async with unavailable_as_error():
        return await db.fetchrow(Q["hand_back_job"], job_id, attempt)


async def finish_cancelled(db: Executor, job_id: uuid.UUID, attempt: int) -> bool:
    """Record that a running attempt stopped because its cancellation was requested."""
    async with unavailable_as_error():
        return await db.fetchval(Q["finish_cancelled"], job_id, attempt) is not None


async def request_cancel(db: Executor, job_id: uuid.UUID) -> asyncpg.Record | None:
    """Ask for a running job to be cancelled; None when it is not running."""
    async with unavailable_as_error():
        return await db.fetchrow(Q["request_cancel"], job_id)


async def newest_dead(
    db: Executor, *, queue: str | None, type: str | None, limit: int, message_chars: int
) -> list[asyncpg.Record]:
    """Up to `limit` dead jobs, newest first: id, type, finished_at, error_type and the
    first `message_chars` characters of the error message."""
    async with unavailable_as_error():
        return await db.fetch(Q["newest_dead_jobs"], queue, type, limit, message_chars)


async def retry_dead(db: Executor, job_ids: Sequence[uuid.UUID]) -> list[asyncpg.Record]:
    """Send dead jobs back to the queue, as `retry` does, in one statement; the rows
    retried (those still dead and not being retried by another call)."""
    async with unavailable_as_error():
        return await db.fetch(Q["retry_dead_jobs"], list(job_ids))
