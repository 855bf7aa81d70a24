"""Bulk operations as records (jobq_bulk_operations, migration 0010): made as a preview,
confirmed, cancelled, read. The walk that carries one out is ``flows/bulk.py``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg

from jobq_core.pg import job_search
from jobq_core.pg.apikeys import ApiKey
from jobq_core.pg.db import Q, unavailable_as_error

BulkAction = Literal["cancel", "retry", "delete", "set_priority"]
"""What a bulk operation does to each job its filter matches."""
BulkStatus = Literal["preview", "running", "done", "cancelled"]
"""`preview` until confirmed; `running` while the leader walks it; then `done` or `cancelled`."""

PREVIEW_EXACT_UP_TO = 1_000_000
"""A preview counts up to this many jobs exactly (about half a second at a million): the
number someone confirms ("retry 100,000 jobs?") must not be an estimate that statistics
on independent columns can put eight times too low. Above it, an estimate, marked so."""
RETENTION_S = 30 * 86_400.0
"""How long a finished operation is kept (a preview nobody confirmed: a day)."""
_FIRST_PAGE = (datetime(9999, 12, 31, tzinfo=UTC), uuid.UUID(int=(1 << 128) - 1))
"""A position before every operation: the largest time PostgreSQL and Python share, the largest id."""


async def preview(
    db: asyncpg.Pool,
    key: ApiKey,
    action: BulkAction,
    filters: job_search.JobFilter,
    *,
    shown_filter: dict[str, Any],
    priority: int | None = None,
) -> asyncpg.Record:
    """Record an operation that waits for its confirmation, with how many jobs match now.

    `shown_filter` is the filter as the request gave it, which reading the operation shows.
    """
    count = await job_search.count_jobs(db, filters, exact_up_to=PREVIEW_EXACT_UP_TO)
    search = job_search.filter_to_json(filters)
    async with unavailable_as_error():
        row = await db.fetchrow(
            Q["create_bulk_operation"],
            uuid.uuid4(),
            action,
            priority,
            shown_filter,
            search,
            count.value,
            count.exact,
            key.id,
            key.name,
        )
    assert row is not None  # an INSERT ... RETURNING returns its row
    return row


async def confirm(db: asyncpg.Pool, operation_id: uuid.UUID) -> asyncpg.Record | None:
    """Start a previewed operation; None when it is not a preview (or there is none)."""
    async with unavailable_as_error():
        return await db.fetchrow(Q["confirm_bulk_operation"], operation_id)


async def cancel(db: asyncpg.Pool, operation_id: uuid.UUID) -> asyncpg.Record | None:
    """Stop an operation before its next batch; None when it has ended (or there is none)."""
    async with unavailable_as_error():
        return await db.fetchrow(Q["cancel_bulk_operation"], operation_id)


async def get(db: asyncpg.Pool, operation_id: uuid.UUID) -> asyncpg.Record | None:
    """The operation with this id, or None."""
    async with unavailable_as_error():
        return await db.fetchrow(Q["get_bulk_operation"], operation_id)


async def newest(
    db: asyncpg.Pool, *, limit: int, after: tuple[datetime, uuid.UUID] | None = None
) -> list[asyncpg.Record]:
    """Operations newest first, after the position `after` (created_at, id)."""
    at, last_id = after if after is not None else _FIRST_PAGE
    async with unavailable_as_error():
        return await db.fetch(Q["list_bulk_operations"], at, last_id, limit)


async def prune(db: asyncpg.Pool, retention_s: float = RETENTION_S) -> None:
    """Delete operations finished more than `retention_s` ago, and day-old previews."""
    async with unavailable_as_error():
        await db.execute(Q["prune_bulk_operations"], retention_s)
