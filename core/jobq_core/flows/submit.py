"""Submitting jobs: fill in defaults from the job type, insert, then dispatch.

The row commits before anything reaches Redis: a job exists once its row does. If
Redis fails after the commit, the job stays `queued` in PostgreSQL and the dispatch
relay sends it later; nothing is half-stored either way.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import asyncpg

from jobq_core.batching import GroupWriter
from jobq_core.dispatch.channel import DispatchChannel
from jobq_core.dispatch.wire import Dispatch
from jobq_core.errors import DatabaseUnavailable, RedisUnavailable
from jobq_core.model.jobtype import JobType
from jobq_core.model.payloads import check
from jobq_core.model.states import JobStatus, initial_status
from jobq_core.pg import store
from jobq_core.pg.db import CONNECTION_ERRORS, Q, unavailable_as_error
from jobq_core.telemetry import tracing

log = logging.getLogger(__name__)


class JobRequest(Protocol):
    """What a client asks for; None means "the job type's default".

    The API's request bodies are ones as they are: a copy per job was a measurable
    part of a batch submit.
    """

    type: str
    payload: Any
    queue: str | None
    priority: int
    run_at: datetime | None
    delay_s: float | None
    max_attempts: int | None
    timeout_s: float | None
    idempotency_key: str | None
    tags: list[str]
    cloned_from: uuid.UUID | None


def build(sub: JobRequest, job_type: JobType, now: datetime, *, field_prefix: str = "payload") -> store.NewJob:
    """Validate `sub` against its job type and fill in every default.

    Raises :class:`~jobq_core.errors.InvalidPayload` naming the offending fields.
    """
    check(job_type.validator, sub.payload, prefix=field_prefix)
    if sub.run_at is not None:
        run_at = sub.run_at if sub.run_at.tzinfo else sub.run_at.replace(tzinfo=UTC)
    else:
        run_at = now + timedelta(seconds=sub.delay_s or 0)
    return store.NewJob(
        id=store.new_job_id(),
        type=sub.type,
        queue=sub.queue or job_type.queue,
        status=initial_status((run_at - now).total_seconds()),
        payload=sub.payload,
        priority=sub.priority,
        max_attempts=sub.max_attempts or job_type.max_attempts,
        timeout_s=sub.timeout_s or job_type.timeout_s,
        idempotency_key=sub.idempotency_key,
        tags=list(sub.tags),
        run_at=run_at,
        cloned_from=sub.cloned_from,
    )


def dispatch_of(job: asyncpg.Record) -> Dispatch:
    """The dispatch that sends a waiting job's next attempt."""
    return Dispatch(
        job_id=str(job["id"]),
        attempt=job["attempts"] + 1,
        queue=job["queue"],
        run_at=job["run_at"],
        trace_context=job["trace_context"],
        priority=job["priority"],
        timeout_s=job["timeout_s"],
    )


@dataclass
class Submitted:
    """Jobs in request order, whether each is new, and whether Redis got them."""

    jobs: list[asyncpg.Record]
    created: list[bool]
    dispatched: bool


async def dispatch_waiting(pool: asyncpg.Pool, channel: DispatchChannel, jobs: Sequence[asyncpg.Record]) -> bool:
    """Send the next attempt of each queued job to Redis; False when Redis is down.

    Scheduled jobs are left for the leader, which promotes and sends them when they come
    due. Committed rows stay queued when Redis fails; the dispatch relay is woken to
    send them as soon as Redis is back.
    """
    try:
        await channel.enqueue([dispatch_of(job) for job in jobs if job["status"] == JobStatus.QUEUED])
    except RedisUnavailable:
        log.warning("Redis unavailable: %d committed job(s) wait for the dispatch relay", len(jobs))
        with contextlib.suppress(DatabaseUnavailable, *CONNECTION_ERRORS):
            await pool.execute(Q["wake_relay"])
        return False
    return True


async def submit(pool: asyncpg.Pool, channel: DispatchChannel, new_jobs: Sequence[store.NewJob]) -> Submitted:
    """Insert `new_jobs` in one statement (all or nothing), then dispatch the new ones.

    With tracing on, this is the publish span, whose context each job keeps.
    """
    with tracing.publishing(new_jobs) as new_jobs:
        return await _insert_and_dispatch(pool, channel, new_jobs)


async def _insert_and_dispatch(
    pool: asyncpg.Pool, channel: DispatchChannel, new_jobs: Sequence[store.NewJob]
) -> Submitted:
    return await _dispatch_new(pool, channel, await _insert(pool, new_jobs))


async def _insert(pool: asyncpg.Pool, new_jobs: Sequence[store.NewJob]) -> store.Inserted:
    async with unavailable_as_error(), pool.acquire() as conn:
        return await store.insert_jobs(conn, new_jobs)


async def _dispatch_new(pool: asyncpg.Pool, channel: DispatchChannel, inserted: store.Inserted) -> Submitted:
    fresh = [job for job, created in zip(inserted.jobs, inserted.created, strict=True) if created]
    dispatched = await dispatch_waiting(pool, channel, fresh)
    return Submitted(inserted.jobs, inserted.created, dispatched)


# What a job's own bad row makes the insert statement raise; the statement then stored
# nothing, so the group's jobs can be written again one by one.
ROW_ERRORS = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)


class SingleSubmits:
    """Single-job submits that arrive together, inserted and dispatched together.

    Under load, concurrent ``POST /v1/jobs`` requests each made an insert, a commit and
    a Redis call of their own; a round trip costs more CPU than the job's own share of
    a statement. Through a :class:`GroupWriter` the first submit goes at once and the
    ones arriving meanwhile share the next statement, commit and Redis call. Each job
    is still committed before its caller hears of it. When the insert refuses a group
    for one job's row, the group is written again one job at a time, so one bad job
    cannot fail the others' requests; any other failure reaches every caller of the
    group, as it would have reached each alone.
    """

    def __init__(self, pool: asyncpg.Pool, channel: DispatchChannel) -> None:
        self._pool, self._channel = pool, channel
        self._groups: GroupWriter[uuid.UUID, store.NewJob, Submitted | Exception] = GroupWriter(self._write)

    async def submit(self, new_job: store.NewJob) -> Submitted:
        """Insert and dispatch `new_job` with whatever group it joins; as :func:`submit`."""
        with tracing.publishing([new_job]) as (new_job,):
            outcome = await self._groups.submit(new_job.id, new_job)
        if isinstance(outcome, Exception):
            raise outcome
        assert outcome is not None  # every job of a group gets its outcome
        return outcome

    async def _write(self, group: Sequence[tuple[uuid.UUID, store.NewJob]]) -> dict[uuid.UUID, Submitted | Exception]:
        new_jobs = [job for _, job in group]
        try:
            inserted = await _insert(self._pool, new_jobs)
        except ROW_ERRORS:
            if len(group) == 1:
                raise
            log.warning("the insert refused a group of %d submits; writing them one by one", len(group))
            return {job.id: await self._write_alone(job) for job in new_jobs}
        together = await _dispatch_new(self._pool, self._channel, inserted)
        return {
            job.id: Submitted([row], [created], together.dispatched)
            for job, row, created in zip(new_jobs, together.jobs, together.created, strict=True)
        }

    async def _write_alone(self, new_job: store.NewJob) -> Submitted | Exception:
        try:
            return await _insert_and_dispatch(self._pool, self._channel, [new_job])
        except Exception as exc:  # this job's own failure, handed to its caller alone
            return exc
