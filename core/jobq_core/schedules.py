"""Recurring schedules in PostgreSQL: stored, listed, and fired by the leader.

Each slot becomes a job whose idempotency key names the schedule and the slot, so a
slot makes one job however many times it is fired: after a leader change mid-slot, or
with two leaders for a moment.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from . import cron, store, tracing
from .db import Q, unavailable_as_error
from .queue import QueueClient
from .states import JobStatus
from .submit import dispatch_waiting

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobTemplate:
    """The job a schedule submits at each slot, with the job type's defaults filled in."""

    type: str
    payload: Any
    queue: str
    priority: int
    max_attempts: int
    timeout_s: float
    tags: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """As stored in `jobq_schedules.job`."""
        return {
            "type": self.type,
            "payload": self.payload,
            "queue": self.queue,
            "priority": self.priority,
            "max_attempts": self.max_attempts,
            "timeout_s": self.timeout_s,
            "tags": self.tags,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobTemplate:
        """From `jobq_schedules.job`."""
        return cls(**data)


def slot_key(schedule_id: uuid.UUID, slot: datetime) -> str:
    """The idempotency key of the job for one slot of one schedule."""
    return f"schedule:{schedule_id}:{slot.isoformat()}"


def job_for_slot(schedule: asyncpg.Record, slot: datetime) -> store.NewJob:
    """The job one slot submits."""
    template = JobTemplate.from_json(schedule["job"])
    return store.NewJob(
        id=store.new_job_id(),
        type=template.type,
        queue=template.queue,
        status=JobStatus.QUEUED,
        payload=template.payload,
        priority=template.priority,
        max_attempts=template.max_attempts,
        timeout_s=template.timeout_s,
        idempotency_key=slot_key(schedule["id"], slot),
        tags=[*template.tags, f"schedule:{schedule['name']}"],
        run_at=slot,
    )


async def create(
    db: asyncpg.Pool,
    *,
    name: str,
    expression: str,
    timezone: str,
    template: JobTemplate,
    missed: cron.Missed,
    paused: bool,
    now: datetime,
) -> asyncpg.Record:
    """Store a new schedule, first due at its next slot after `now`."""
    next_run_at = cron.next_slot(expression, timezone, now)
    async with unavailable_as_error():
        row = await db.fetchrow(
            Q["insert_schedule"],
            uuid.uuid4(),
            name,
            expression,
            timezone,
            template.as_json(),
            str(missed),
            paused,
            next_run_at,
        )
    assert row is not None
    return row


async def update(
    db: asyncpg.Pool,
    schedule_id: uuid.UUID,
    *,
    name: str,
    expression: str,
    timezone: str,
    template: JobTemplate,
    missed: cron.Missed,
    paused: bool,
    now: datetime,
) -> asyncpg.Record | None:
    """Replace a schedule's fields; it is next due at its next slot after `now`."""
    next_run_at = cron.next_slot(expression, timezone, now)
    async with unavailable_as_error():
        row: asyncpg.Record | None = await db.fetchrow(
            Q["update_schedule"],
            schedule_id,
            name,
            expression,
            timezone,
            template.as_json(),
            str(missed),
            paused,
            next_run_at,
        )
    return row


async def fire_due(pool: asyncpg.Pool, queue: QueueClient) -> int:
    """Submit the jobs of every due slot and move each schedule on; return jobs made.

    One transaction: the jobs and the schedules' next run times commit together, so a
    crash between the two cannot fire a slot twice (and the slot keys would stop it
    anyway).
    """
    async with unavailable_as_error(), pool.acquire() as conn, conn.transaction():
        due = await conn.fetch(Q["due_schedules"])
        plans = []
        for schedule in due:
            try:
                planned = cron.plan(
                    schedule["cron"],
                    schedule["timezone"],
                    schedule["next_run_at"],
                    schedule["db_now"],
                    cron.Missed(schedule["missed"]),
                )
            except (ValueError, KeyError) as exc:  # a row written behind the API's back; the rest still fire
                log.error("schedule %s cannot be planned: %s", schedule["name"], exc)
                continue
            plans.append((schedule, planned))
        new_jobs = [job_for_slot(schedule, slot) for schedule, planned in plans for slot in planned.fire]
        with tracing.publishing(new_jobs) as new_jobs:  # the fired jobs' traces start here
            inserted = await store.insert_jobs(conn, new_jobs) if new_jobs else store.Inserted()
        job_by_key = {job["idempotency_key"]: job["id"] for job in inserted.jobs}
        for schedule, planned in plans:
            last = planned.fire[-1] if planned.fire else None
            last_job = job_by_key.get(slot_key(schedule["id"], last)) if last else None
            await conn.execute(Q["advance_schedule"], schedule["id"], planned.next_run_at, last, last_job)
    made = [job for job, created in zip(inserted.jobs, inserted.created, strict=True) if created]
    if made:
        log.info("schedules fired %d job(s)", len(made))
        await dispatch_waiting(pool, queue, made)
    return len(made)
