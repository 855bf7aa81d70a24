"""What changed in PostgreSQL since the last look, in one statement: the API's event stream reads it.

`read` runs ``events_tick`` (``sql/events.sql``): jobs created or changed since a time,
the running jobs whose attempt or progress moved since the caller last saw them, the
per-queue counts when anything moved, and the workers. Each part is an index range
scan sized by the change, not by the table, so a look stays cheap at millions of jobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from .db import Q, unavailable_as_error

# The columns of each record the statement returns, in its order.
JOB_FIELDS = (
    "id",
    "type",
    "queue",
    "status",
    "priority",
    "attempts",
    "max_attempts",
    "progress",
    "progress_message",
    "tags",
    "run_at",
    "created_at",
    "started_at",
    "finished_at",
)
QUEUE_FIELDS = ("name", "ready", "scheduled", "running", "dead", "oldest_ready_age_s", "paused")
WORKER_FIELDS = (
    "id",
    "hostname",
    "pid",
    "queues",
    "job_types",
    "concurrency",
    "version",
    "started_at",
    "heartbeat_at",
    "stopped_at",
    "alive",
    "running",
)


@dataclass(frozen=True, slots=True)
class Running:
    """What the caller last saw of a running job: a change to any of it is news."""

    attempts: int
    progress: float | None
    message: str | None


@dataclass(frozen=True)
class Changes:
    """One look: the database's time, and what it found."""

    db_now: datetime
    jobs: list[dict[str, Any]]
    queues: list[dict[str, Any]] | None  # None when the counts were not taken
    workers: list[dict[str, Any]]


def _rows(records: list[tuple[Any, ...]] | None, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    return [dict(zip(fields, record, strict=True)) for record in records or ()]


async def read(
    pool: asyncpg.Pool,
    *,
    since: datetime | None,
    running: Mapping[str, Running],
    count_queues: bool,
    worker_timeout_s: float,
    limit: int,
) -> Changes:
    """Jobs changed after `since` (None: only the running ones), running jobs unlike `running`,
    the queues (counted when anything moved or `count_queues`), and the workers.

    At most `limit` jobs; a full list means more changed than were read. Job ids are
    strings. Raises :class:`~jobq_core.errors.DatabaseUnavailable` when PostgreSQL is away.
    """
    ids = list(running)
    async with unavailable_as_error():
        row = await pool.fetchrow(
            Q["events_tick"],
            since,
            ids,
            [running[i].attempts for i in ids],
            [running[i].progress for i in ids],
            [running[i].message for i in ids],
            count_queues,
            worker_timeout_s,
            limit,
        )
    assert row is not None  # one row, always
    jobs = _rows(row["jobs"], JOB_FIELDS)
    for job in jobs:
        job["id"] = str(job["id"])
    return Changes(
        db_now=row["db_now"],
        jobs=jobs,
        queues=_rows(row["queues"], QUEUE_FIELDS) if row["queues_counted"] else None,
        workers=_rows(row["workers"], WORKER_FIELDS),
    )
