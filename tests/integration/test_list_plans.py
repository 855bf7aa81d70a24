"""Lists, searches and counts at scale: every filter, alone and in pairs, reads an index.

A seeded database of 20,000 jobs in a busy system's mix (bench/seed.py) is small for CI;
three things make it plan as ten million would, so a missing index shows:

- after ANALYZE, the table's row count is set to PLANNED_AS with
  `pg_restore_relation_stats` (PostgreSQL 18), its pages left as they are: PostgreSQL
  estimates rows from that density and the real size, so every estimate is what ten
  million jobs in this mix would give, and plans are chosen for that;
- `enable_seqscan = off`: PostgreSQL still plans a sequential scan when nothing else can
  answer the query, and only then (PostgreSQL 18 marks it `Disabled`), so any Seq Scan on
  jobq_jobs in the plan means no index serves the filters;
- a list by status, queue, type or time alone sorts at most ORDERED_SORT_LIMIT rows (in
  effect it reads its index in order), and no list sorts more than
  SORTED_ROWS_LIMIT rows: a filter without its (column, created_at, id) index still
  avoids the table through another index (the queue's `(queue, status, run_at)`, say)
  but then reads and sorts every match, which at ten million jobs is the slow page this
  module exists to prevent. A tag, payload or error filter is read through GIN, which
  has no order: those sort what they find;
- no plan walks a whole index (created order, no condition) filtering for a value fewer
  than one row in WALKED_PER_ROW_LIMIT has: that is how PostgreSQL serves a rare queue
  without the queue's index, reading 17,000 rows a page at ten million.

Each filter is tried with a common value and a rare one, since the planner picks
differently for each, and at a cursor deep in the list as well as on the first page.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from bench import list_cases
from bench.seed import seed
from jobq_core.pg import apikeys, job_search
from jobq_core.pg.apikeys import Scope
from jobq_core.pg.db import Q, create_pool
from jobq_core.pg.job_search import JobFilter
from jobq_core.pg.migrate import migrate_url
from tests.conftest import Servers
from tests.integration.conftest import _client, api_settings
from tests.integration.test_migrations import with_database

SEEDED_JOBS = 20_000
PLANNED_AS = 10_000_000
SORTED_ROWS_LIMIT = 1_000
ORDERED_ALONE = {"none", "status", "queue", "type", "time"}
ORDERED_SORT_LIMIT = 100  # two pages: a plan may sort what few rows it found by bitmap
WALKED_PER_ROW_LIMIT = 200  # 10,000 index entries read for a page of 50
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

CASES = list_cases.filter_cases(NOW)


@asynccontextmanager
async def seeded_database(servers: Servers) -> AsyncIterator[str]:
    """A database of its own on the session's PostgreSQL, migrated and seeded; its URL."""
    name = f"jobq_seeded_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(servers.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(servers.database_url, name)
    try:
        await migrate_url(url)
        await seed(url, SEEDED_JOBS, now=NOW)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="module")
async def seeded(servers: Servers) -> AsyncIterator[str]:
    async with seeded_database(servers) as url:
        yield url


@pytest.fixture(scope="module")
async def seeded_pool(seeded: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(seeded, size=2)
    yield pool
    await pool.close()


@pytest.fixture(scope="module")
async def planned_pool(servers: Servers) -> AsyncIterator[asyncpg.Pool]:
    """Another seeded database, whose statistics say it holds PLANNED_AS jobs."""
    async with seeded_database(servers) as url:
        pool = await create_pool(url, size=2)
        # Nothing changes the table after this, so autovacuum has no reason to analyse it again.
        await pool.execute(
            "SELECT pg_restore_relation_stats('schemaname', 'public', 'relname', 'jobq_jobs',"
            " 'relpages', relpages, 'reltuples', $1::real) FROM pg_class WHERE relname = 'jobq_jobs'",
            PLANNED_AS,
        )
        assert await pool.fetchval("SELECT reltuples FROM pg_class WHERE relname = 'jobq_jobs'") == PLANNED_AS
        yield pool
        await pool.close()


async def plan_of(pool: asyncpg.Pool, query: str, args: list[Any]) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        text = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {query}", *args)
    plan: dict[str, Any] = orjson.loads(text)[0]["Plan"]
    return plan


def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *itertools.chain.from_iterable(nodes(p) for p in plan.get("Plans", []))]


def faults(plan: dict[str, Any], *, ordered: bool) -> list[str]:
    """What in `plan` would not scale: a sequential scan of jobq_jobs, a walk of a whole
    index that keeps few of the rows it reads, or a sort of many rows (of more than a
    couple of pages, when the list should be `ordered` by its index)."""
    found = []
    for node in nodes(plan):
        if node["Node Type"] == "Seq Scan" and node.get("Relation Name") == "jobq_jobs":
            found.append("a sequential scan of jobq_jobs")
        if (
            node["Node Type"] in ("Index Scan", "Index Only Scan")
            and "Filter" in node
            and "Index Cond" not in node
            and node["Plan Rows"] * WALKED_PER_ROW_LIMIT < PLANNED_AS
        ):
            found.append(f"a walk of {node['Index Name']} keeping 1 row in {PLANNED_AS / node['Plan Rows']:.0f}")
        if node["Node Type"] in ("Sort", "Incremental Sort"):
            rows = node["Plans"][0]["Plan Rows"]
            if rows > (ORDERED_SORT_LIMIT if ordered else SORTED_ROWS_LIMIT):
                found.append(f"a sort of {rows} rows")
    return found


async def deep_cursor(pool: asyncpg.Pool) -> tuple[datetime, uuid.UUID]:
    """The position of the 15,000th newest job: 300 pages of 50 deep."""
    row = await pool.fetchrow("SELECT created_at, id FROM jobq_jobs ORDER BY created_at DESC, id DESC OFFSET 15000")
    assert row is not None
    return row["created_at"], row["id"]


@pytest.mark.parametrize(("name", "filters"), CASES, ids=[name for name, _ in CASES])
async def test_every_list_reads_an_index_in_order_at_any_depth(
    planned_pool: asyncpg.Pool, name: str, filters: JobFilter
) -> None:
    for after in (None, await deep_cursor(planned_pool)):
        query, args = job_search.list_query(filters, limit=51, after=after)
        plan = await plan_of(planned_pool, query, args)
        found = faults(plan, ordered=name.split("=")[0] in ORDERED_ALONE)
        assert not found, f"{name} (cursor {after}): {found}\n{orjson.dumps(plan).decode()}"


RARE_TAG = list_cases.values(NOW)["tag"][1]["tag"]
RARE_TAG_CASES = [(name, filters) for name, filters in CASES if filters.tag == RARE_TAG]


@pytest.mark.parametrize(("name", "filters"), RARE_TAG_CASES, ids=[name for name, _ in RARE_TAG_CASES])
async def test_a_rare_tags_sorted_list_reads_the_tag_index_alone_at_any_depth(
    planned_pool: asyncpg.Pool, name: str, filters: JobFilter
) -> None:
    # The form list_jobs runs for a tag on at most RARE_TAG_ROWS jobs: the tag's jobs
    # through its GIN index, no other index intersected with it, then filtered and sorted
    # (planned as ten million jobs the tag is not that rare: only the access is checked).
    for after in (None, await deep_cursor(planned_pool)):
        query, args = job_search.list_query(filters, limit=51, after=after, sort_matches=True)
        plan = await plan_of(planned_pool, query, args)
        scans = [n for n in nodes(plan) if n.get("Relation Name") == "jobq_jobs" or "Index Name" in n]
        shown = f"{name} (cursor {after}): {orjson.dumps(plan).decode()}"
        assert [n["Node Type"] for n in scans] == ["Bitmap Heap Scan", "Bitmap Index Scan"], shown
        assert scans[1]["Index Name"] == "jobq_jobs_tags", shown


PAIR_CASES = [(name, filters) for name, filters in CASES if job_search._ids_first(filters)]


@pytest.mark.parametrize(("name", "filters"), PAIR_CASES, ids=[name for name, _ in PAIR_CASES])
async def test_a_pair_of_filters_is_checked_in_the_index_and_only_its_page_read_from_the_table(
    planned_pool: asyncpg.Pool, name: str, filters: JobFilter
) -> None:
    # Walking one filter's index and reading each job from the table to check the other
    # read 7,000 jobs for a page at ten million (status=succeeded&tag=trial, 130-290 ms).
    # Two rare values may instead be intersected as bitmaps: that reads only jobs with both.
    for after in (None, await deep_cursor(planned_pool)):
        query, args = job_search.list_query(filters, limit=51, after=after)
        plan = await plan_of(planned_pool, query, args)
        scans = [n for n in nodes(plan) if n.get("Relation Name") == "jobq_jobs"]
        shown = f"{name} (cursor {after}): {orjson.dumps(plan).decode()}"
        page = [n for n in scans if n["Node Type"] == "Index Scan" and n["Index Name"] == "jobq_jobs_pkey"]
        assert page, shown  # the page, read by id
        for scan in (n for n in scans if n not in page):
            both = scan["Node Type"] == "Bitmap Heap Scan" and scan["Plans"][0]["Node Type"] == "BitmapAnd"
            assert scan["Node Type"] == "Index Only Scan" or both, shown


async def test_the_queue_statistics_read_the_live_jobs_once(planned_pool: asyncpg.Pool) -> None:
    # GET /v1/queues counts the waiting and running jobs: naming their queues with a
    # second read of them doubled its cost (150 ms for 200,000 waiting jobs).
    plan = await plan_of(planned_pool, Q["queue_stats"], [])
    reads = [n for n in nodes(plan) if n.get("Relation Name") == "jobq_jobs" and "Bitmap Index" not in n["Node Type"]]
    assert len(reads) == 1, orjson.dumps(plan).decode()


@pytest.mark.parametrize(("name", "filters"), CASES, ids=[name for name, _ in CASES])
async def test_every_count_reads_an_index(planned_pool: asyncpg.Pool, name: str, filters: JobFilter) -> None:
    query, args = job_search.count_query(filters)
    plan = await plan_of(planned_pool, query, args)
    scans = [n for n in nodes(plan) if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "jobq_jobs"]
    # Counting every job reads them all, which an index-only scan does no faster.
    assert not scans or filters == JobFilter(), f"{name}: {orjson.dumps(plan).decode()}"


def where(filters: JobFilter) -> tuple[str, list[Any]]:
    """The filters as the plainest SQL, written apart from job_search: the truth to compare with."""
    conditions: list[str] = []
    args: list[Any] = []
    for column, value in (("type", filters.type), ("queue", filters.queue)):
        if value is not None:
            args.append(value)
            conditions.append(f"{column} = ${len(args)}")
    if filters.statuses:
        args.append(filters.statuses)
        conditions.append(f"status = ANY(${len(args)})")
    if filters.tag:
        args.append(filters.tag)
        conditions.append(f"${len(args)} = ANY(tags)")
    if filters.created_after:
        args.append(filters.created_after)
        conditions.append(f"created_at >= ${len(args)}")
    if filters.created_before:
        args.append(filters.created_before)
        conditions.append(f"created_at < ${len(args)}")
    if filters.error:
        args.append(filters.error.lower())
        conditions.append(f"strpos(lower(error->>'message'), ${len(args)}) > 0")
    if filters.payload:
        args.append(filters.payload)
        conditions.append(f"payload @> ${len(args)}::jsonb")
    return ("WHERE " + " AND ".join(conditions)) if conditions else "", args


@pytest.fixture(scope="module")
async def seeded_api(servers: Servers, seeded: str, seeded_pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    key = await apikeys.create(seeded_pool, "plans test", [Scope.JOBS_READ])
    async for client in _client(api_settings(servers, database_url=seeded)):
        client.headers["Authorization"] = f"Bearer {key}"
        yield client


# Every filter alone, and each pair with a tag (read by its own query when the tag is rare).
LISTED = [(name, filters) for name, filters in CASES if "+" not in name or filters.tag is not None]


@pytest.mark.parametrize(("name", "filters"), LISTED, ids=[name for name, _ in LISTED])
async def test_the_api_lists_exactly_the_matching_jobs_page_by_page(
    seeded_api: httpx.AsyncClient, seeded_pool: asyncpg.Pool, name: str, filters: JobFilter
) -> None:
    clause, args = where(filters)
    truth = await seeded_pool.fetch(
        f"SELECT id FROM jobq_jobs {clause} ORDER BY created_at DESC, id DESC LIMIT 600",  # noqa: S608
        *args,
    )
    listed: list[str] = []
    params = list_cases.query_params(filters) | {"limit": 200}
    while len(listed) < len(truth):
        page = (await seeded_api.get("/v1/jobs", params=params)).json()
        listed += [j["id"] for j in page["jobs"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert listed[: len(truth)] == [str(r["id"]) for r in truth], name


@pytest.mark.parametrize(
    "filters",
    [JobFilter(), JobFilter(statuses=["succeeded"]), JobFilter(statuses=["dead"]), JobFilter(tag="trial"),
     JobFilter(error="timed out"), JobFilter(queue="email", statuses=["queued", "scheduled"])],
)  # fmt: skip
async def test_a_count_is_exact_up_to_the_limit_and_an_estimate_marked_as_one_above(
    seeded_api: httpx.AsyncClient, seeded_pool: asyncpg.Pool, filters: JobFilter
) -> None:
    clause, args = where(filters)
    truth = await seeded_pool.fetchval(f"SELECT count(*) FROM jobq_jobs {clause}", *args)  # noqa: S608

    response = await seeded_api.get("/v1/jobs/count", params=list_cases.query_params(filters))

    assert response.status_code == 200, response.text
    count = response.json()["count"]
    if truth <= job_search.EXACT_COUNT_LIMIT:
        assert count == {"value": truth, "exact": True}
    else:
        assert count["exact"] is False
        assert count["value"] > job_search.EXACT_COUNT_LIMIT
        assert abs(count["value"] - truth) <= truth * 0.2, (count, truth)
