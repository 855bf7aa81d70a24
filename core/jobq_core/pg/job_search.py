"""Filtered reads of jobs at any size: a page of the list, and how many match.

Each read is built for the filters it has, so PostgreSQL plans exactly the query asked,
never a catch-all with `($1 IS NULL OR ...)` branches whose one cached plan must serve
every combination. Every filter has an index (migration 0007) that reads a page in order
and stops at its limit: status, queue and type by (column, created_at DESC, id DESC), the
time range by (created_at DESC, id DESC), a tag and the payload by GIN, error text by
trigrams (a rare tag's jobs are read whole and sorted: see list_jobs). A pair of them is
checked in the index it walks, which holds the others' columns (migration 0013). Several statuses
are one branch each, merged: `status = ANY(...)` cannot read one index in created order.
The reads run with custom plans (plan_cache_mode), planned for the values given: a tag
on half the jobs and a tag on ten are different reads.

A count is exact up to :data:`EXACT_COUNT_LIMIT`, read with that limit; past it,
PostgreSQL's estimate for the filters, marked as one, instead of reading millions of rows.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from jobq_core.model.states import JobStatus
from jobq_core.pg.conditions import Conditions
from jobq_core.pg.db import unavailable_as_error

EXACT_COUNT_LIMIT = 10_000
"""Counts up to this many matching jobs are exact; above it, an estimate."""

RARE_TAG_ROWS = 10_000
"""A tag PostgreSQL expects on at most this many jobs is listed by reading all of them and
sorting: 19 ms for a tag on 7,758 of a million jobs on a 2-core machine, cached."""

ORDER = "ORDER BY created_at DESC, id DESC"


@dataclass(frozen=True)
class JobFilter:
    """Filters for listing jobs; None means "any"."""

    statuses: list[str] | None = None
    type: str | None = None
    queue: str | None = None
    tag: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    error: str | None = None
    """Text the last error's message contains, ignoring case; `%` and `_` are themselves."""
    payload: dict[str, Any] | None = None
    """An object the payload contains (jsonb `@>`): `{"user": {"id": 123}}`."""


def filter_to_json(filters: JobFilter) -> dict[str, Any]:
    """`filters` as JSON (a bulk operation keeps them): times as ISO 8601 text, None left out."""
    data = {name: getattr(filters, name) for name in JobFilter.__dataclass_fields__}
    for name in ("created_after", "created_before"):
        if data[name] is not None:
            data[name] = data[name].isoformat()
    return {name: value for name, value in data.items() if value is not None}


def filter_from_json(data: dict[str, Any]) -> JobFilter:
    """The JobFilter `filter_to_json` made `data` from."""
    fields = dict(data)
    for name in ("created_after", "created_before"):
        if name in fields:
            fields[name] = datetime.fromisoformat(fields[name])
    return JobFilter(**fields)


@dataclass(frozen=True)
class Count:
    """How many jobs match: `exact`, or PostgreSQL's estimate of a number above EXACT_COUNT_LIMIT."""

    value: int
    exact: bool


def contains_pattern(text: str) -> str:
    """An ILIKE pattern (escape character `\\`) that matches `text` anywhere, taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _filtered(filters: JobFilter, q: Conditions | None = None) -> Conditions:
    """Every filter but the statuses, as conditions (added to `q`'s)."""
    q = q if q is not None else Conditions()
    if filters.type is not None:
        q.where("type = {}", filters.type)
    if filters.queue is not None:
        q.where("queue = {}", filters.queue)
    if filters.tag is not None:
        q.where("tags @> ARRAY[{}]::text[]", filters.tag)
    if filters.created_after is not None:
        q.where("created_at >= {}", filters.created_after)
    if filters.created_before is not None:
        q.where("created_at < {}", filters.created_before)
    if filters.error is not None:
        # `error IS NOT NULL` lets PostgreSQL use the partial trigram index.
        q.where("error IS NOT NULL AND error->>'message' ILIKE {} ESCAPE '\\'", contains_pattern(filters.error))
    if filters.payload is not None:
        q.where("payload @> {}::jsonb", filters.payload)  # the pool's jsonb codec encodes it
    return q


def _statuses(filters: JobFilter) -> list[str]:
    """The statuses asked for, each a JobStatus (they are compared, never pasted, but checked all the same)."""
    return sorted({str(JobStatus(s)) for s in filters.statuses or []})


def list_query(
    filters: JobFilter,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
    sort_matches: bool = False,
    columns: str = "*",
) -> tuple[str, list[Any]]:
    """The SQL and arguments of one page: jobs matching `filters`, newest first, after the cursor `after`.

    `columns` (SQL, never from a request) are those read; they must hold `created_at` and `id`,
    which several statuses' branches are merged by.

    `sort_matches` (with a tag) reads every job of the tag and sorts those that match
    the other filters, instead of walking an index in created order until a page is
    found: for a rare tag the walk may pass thousands of jobs between matches.

    Two or more of status, queue, type and tag find the page's ids first: each of their
    indexes holds the others' columns (migration 0013), so the walk checks every job it
    passes in the index alone, and only the page's jobs are read from the table.
    """
    if sort_matches and filters.tag is not None:
        return _sorted_by_tag(filters, limit=limit, after=after, columns=columns)
    if not _ids_first(filters) or {c.strip() for c in columns.split(",")} == {"created_at", "id"}:
        return _walked(filters, limit=limit, after=after, columns=columns)
    ids, args = _walked(filters, limit=limit, after=after, columns="created_at, id")
    return f"SELECT {columns} FROM jobq_jobs WHERE id IN (SELECT id FROM ({ids}) AS page) {ORDER}", args


def _ids_first(filters: JobFilter) -> bool:
    """Whether the filters pair columns every filter index holds, and nothing those indexes lack."""
    paired = [filters.statuses, filters.queue, filters.type, filters.tag]
    return filters.error is None and filters.payload is None and sum(bool(f) for f in paired) >= 2


def _walked(
    filters: JobFilter, *, limit: int, after: tuple[datetime, uuid.UUID] | None, columns: str
) -> tuple[str, list[Any]]:
    """The page read in created order from the index of one of its filters (or of the time)."""
    q = _filtered(filters)
    if after is not None:
        q.where("(created_at, id) < ({}, {})", after[0], after[1])
    limit_arg = q.arg(limit)
    statuses = _statuses(filters)
    if len(statuses) <= 1:
        only = [f"status = {q.arg(statuses[0])}"] if statuses else []
        return f"SELECT {columns} FROM jobq_jobs {q.clause(*only)} {ORDER} LIMIT {limit_arg}", q.args
    branches = [
        f"(SELECT {columns} FROM jobq_jobs {q.clause(f'status = {q.arg(s)}')} {ORDER} LIMIT {limit_arg})"
        for s in statuses
    ]
    return f"SELECT * FROM ({' UNION ALL '.join(branches)}) AS j {ORDER} LIMIT {limit_arg}", q.args


def _sorted_by_tag(
    filters: JobFilter, *, limit: int, after: tuple[datetime, uuid.UUID] | None, columns: str
) -> tuple[str, list[Any]]:
    """The tag's jobs through its GIN index alone, then the other filters and the sort.

    `OFFSET 0` keeps the other filters out of that read: pushed into it, PostgreSQL may
    intersect the tag's few thousand rows with a bitmap of, say, the 40 % of the table
    in the default queue, which costs more than checking each of the tag's rows.
    """
    q = Conditions()
    tagged = f"SELECT * FROM jobq_jobs WHERE tags @> ARRAY[{q.arg(filters.tag)}]::text[] OFFSET 0"
    q = _filtered(replace(filters, tag=None), q)
    if statuses := _statuses(filters):
        q.where("status = ANY({}::text[])", statuses)
    if after is not None:
        q.where("(created_at, id) < ({}, {})", after[0], after[1])
    return f"SELECT {columns} FROM ({tagged}) AS tagged {q.clause()} {ORDER} LIMIT {q.arg(limit)}", q.args


def count_query(filters: JobFilter) -> tuple[str, list[Any]]:
    """The SQL and arguments selecting one row per matching job (no order, no limit)."""
    q = _filtered(filters)
    statuses = _statuses(filters)
    if statuses:
        q.where("status = ANY({}::text[])", statuses)
    return f"SELECT 1 FROM jobq_jobs {q.clause()}", q.args


async def _with_custom_plans(pool: asyncpg.Pool, query: str, args: list[Any]) -> list[asyncpg.Record]:
    """Run `query` planned for its arguments: a cached generic plan would serve every value the same."""
    async with unavailable_as_error(), pool.acquire() as conn, conn.transaction(readonly=True):
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        return await conn.fetch(query, *args)


async def _estimated_rows(pool: asyncpg.Pool, query: str, args: list[Any]) -> int:
    """How many rows PostgreSQL expects `query` to return, from its statistics (nothing is read)."""
    plan = (await _with_custom_plans(pool, f"EXPLAIN (FORMAT JSON) {query}", args))[0][0]
    return int(orjson.loads(plan)[0]["Plan"]["Plan Rows"])


async def list_jobs(
    pool: asyncpg.Pool,
    filters: JobFilter,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
    columns: str = "*",
) -> list[asyncpg.Record]:
    """Jobs matching `filters`, newest first, starting after the cursor `after`; their `columns`.

    PostgreSQL assumes a tag's jobs are spread evenly through time, so for a page it may
    walk the created-order index past thousands of jobs that lack the tag (the newest
    ones, still waiting, when the filter asks for finished ones, say). A tag it expects
    on at most RARE_TAG_ROWS jobs is read whole through its GIN index and sorted instead:
    a cost bounded by the tag, at any depth.
    """
    rare_tag = await _is_rare_tag(pool, filters)
    query, args = list_query(filters, limit=limit, after=after, sort_matches=rare_tag, columns=columns)
    return await _with_custom_plans(pool, query, args)


async def _is_rare_tag(pool: asyncpg.Pool, filters: JobFilter) -> bool:
    """Whether `filters` has a tag PostgreSQL expects on at most RARE_TAG_ROWS jobs."""
    if filters.tag is None:
        return False
    return await _estimated_rows(pool, *count_query(JobFilter(tag=filters.tag))) <= RARE_TAG_ROWS


async def walk_jobs(pool: asyncpg.Pool, filters: JobFilter, *, page: int) -> AsyncIterator[list[asyncpg.Record]]:
    """Every job matching `filters`, newest first, `page` at a time; the last page may be empty.

    Each page is its own short read from where the last one ended, as `list_jobs` reads
    one, so a walk of millions holds no transaction open (nor the rows VACUUM would free)
    and keeps one page in memory. It is not a snapshot: a job submitted meanwhile is newer
    than where the walk began and is not met; one whose state changes is seen as it is
    when its page is read.
    """
    rare_tag = await _is_rare_tag(pool, filters)
    after = None
    while True:
        query, args = list_query(filters, limit=page, after=after, sort_matches=rare_tag)
        rows = await _with_custom_plans(pool, query, args)
        yield rows
        if len(rows) < page:
            return
        after = (rows[-1]["created_at"], rows[-1]["id"])


async def count_jobs(pool: asyncpg.Pool, filters: JobFilter, *, exact_up_to: int = EXACT_COUNT_LIMIT) -> Count:
    """How many jobs match `filters`: counted up to `exact_up_to`, estimated above."""
    query, args = count_query(filters)
    bounded = f"SELECT count(*) AS n FROM ({query} LIMIT {int(exact_up_to) + 1}) AS matching"
    counted = (await _with_custom_plans(pool, bounded, args))[0]["n"]
    if counted <= exact_up_to:
        return Count(counted, exact=True)
    estimate = await _estimated_rows(pool, query, args)
    # More than the limit were counted: an estimate below it would be known wrong.
    return Count(max(estimate, exact_up_to + 1), exact=False)
