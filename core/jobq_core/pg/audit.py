"""The audit log: who changed what through the API, and when (jobq_audit, migration 0009).

Every change but a plain submit is recorded once it has been made (cancel, retry, run
now and delete of a job, a dead group's retry, pausing and resuming a queue, each change
to a schedule, creating and revoking keys, confirming and cancelling a bulk operation)
with the key's name, the action, its target and, where the request carried more than a
target, what it asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

from jobq_core.pg.apikeys import ApiKey
from jobq_core.pg.conditions import Conditions
from jobq_core.pg.db import unavailable_as_error

Action = Literal[
    "job.cancel",
    "job.retry",
    "job.run_now",
    "job.delete",
    "dead_group.retry",
    "bulk.confirm",
    "bulk.cancel",
    "queue.pause",
    "queue.resume",
    "schedule.create",
    "schedule.update",
    "schedule.pause",
    "schedule.resume",
    "schedule.run",
    "schedule.delete",
    "key.create",
    "key.revoke",
]
"""Every action the log records, as GET /v1/audit names them."""


@dataclass(frozen=True)
class AuditFilter:
    """Filters for reading the log; None means "any"."""

    action: Action | None = None
    key_name: str | None = None
    target: str | None = None
    after: datetime | None = None
    before: datetime | None = None


async def record(
    db: asyncpg.Pool, key: ApiKey, action: Action, target: str | None, detail: dict[str, Any] | None = None
) -> None:
    """Record that `key` did `action` to `target`."""
    async with unavailable_as_error():
        await db.execute(
            "INSERT INTO jobq_audit (key_id, key_name, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
            key.id,
            key.name,
            action,
            target,
            detail,
        )


async def entries(
    db: asyncpg.Pool, filters: AuditFilter, *, limit: int, after: tuple[datetime, int] | None = None
) -> list[asyncpg.Record]:
    """Entries matching `filters`, newest first, after the position `after` (at, id)."""
    q = Conditions()
    for column, value in (("action", filters.action), ("key_name", filters.key_name), ("target", filters.target)):
        if value is not None:
            q.where(f"{column} = {{}}", value)
    if filters.after is not None:
        q.where("at >= {}", filters.after)
    if filters.before is not None:
        q.where("at < {}", filters.before)
    if after is not None:
        q.where("(at, id) < ({}, {})", *after)
    # Only placeholders are pasted into the SQL; the values go as arguments.
    columns = "id, at, key_id, key_name, action, target, detail"
    sql = f"SELECT {columns} FROM jobq_audit {q.clause()} ORDER BY at DESC, id DESC LIMIT {q.arg(limit)}"  # noqa: S608
    async with unavailable_as_error():
        return await db.fetch(sql, *q.args)
