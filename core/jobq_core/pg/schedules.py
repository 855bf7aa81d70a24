"""Recurring schedules in PostgreSQL: stored and listed (the leader fires them, see
``jobq_core.flows.schedules``).

Each slot becomes a job whose idempotency key names the schedule and the slot, so a
slot makes one job however many times it is fired: after a leader change mid-slot, or
with two leaders for a moment.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from jobq_core import names
from jobq_core.model import cron
from jobq_core.model.states import JobStatus

from . import store
from .db import Q, unavailable_as_error


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


def _job(schedule: asyncpg.Record, run_at: datetime, idempotency_key: str | None) -> store.NewJob:
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
        idempotency_key=idempotency_key,
        tags=[*template.tags, f"schedule:{schedule['name']}"],
        run_at=run_at,
        # asyncpg's own UUID class, which orjson (encoding the row) does not know.
        schedule_id=uuid.UUID(int=schedule["id"].int),
    )


def job_for_slot(schedule: asyncpg.Record, slot: datetime) -> store.NewJob:
    """The job one slot submits."""
    return _job(schedule, slot, slot_key(schedule["id"], slot))


def job_now(schedule: asyncpg.Record, now: datetime) -> store.NewJob:
    """A job from the schedule's template to run now, outside its slots: no slot key, so
    it neither takes a slot's place nor stops one from firing."""
    return _job(schedule, now, None)


async def recent_jobs(db: asyncpg.Pool, schedule_id: uuid.UUID, limit: int) -> list[asyncpg.Record]:
    """The jobs the schedule made (its slots and its runs by hand), newest first."""
    async with unavailable_as_error():
        return await db.fetch(Q["schedule_runs"], schedule_id, limit)


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


# --- schedules declared in code (``jobq_core.flows.declared_schedules``) -------------


async def lock_declarations(conn: store.Connection) -> None:
    """Hold the declared schedules' advisory lock until `conn`'s transaction ends."""
    await conn.execute(Q["lock_declared_schedules"], names.DECLARED_SCHEDULES_LOCK_KEY)


async def declared_or_named(conn: store.Connection, owner: str, wanted: Sequence[str]) -> list[asyncpg.Record]:
    """The schedules `owner` declared, and any other schedule holding one of the names `wanted`."""
    rows: list[asyncpg.Record] = await conn.fetch(Q["declared_or_named_schedules"], owner, list(wanted))
    return rows


async def insert_declared(
    conn: store.Connection,
    *,
    owner: str,
    name: str,
    expression: str,
    timezone: str,
    template: JobTemplate,
    next_run_at: datetime,
) -> asyncpg.Record:
    """Store a schedule declared by `owner` (unpaused, missed slots skipped)."""
    row = await conn.fetchrow(
        Q["insert_declared_schedule"],
        uuid.uuid4(),
        name,
        expression,
        timezone,
        template.as_json(),
        next_run_at,
        owner,
    )
    assert row is not None
    return row


async def update_declared(
    conn: store.Connection,
    schedule_id: uuid.UUID,
    *,
    owner: str,
    expression: str,
    timezone: str,
    template: JobTemplate,
    next_run_at: datetime | None,
) -> asyncpg.Record | None:
    """Change a schedule `owner` declared; `next_run_at` None keeps its next run. None if
    it is no longer `owner`'s."""
    row: asyncpg.Record | None = await conn.fetchrow(
        Q["update_declared_schedule"],
        schedule_id,
        expression,
        timezone,
        template.as_json(),
        next_run_at,
        owner,
    )
    return row


async def delete_withdrawn(conn: store.Connection, owner: str, declared: Sequence[str]) -> list[str]:
    """Delete `owner`'s schedules not named in `declared`; return their names."""
    return [row["name"] for row in await conn.fetch(Q["delete_withdrawn_schedules"], owner, list(declared))]
