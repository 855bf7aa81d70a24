"""`python -m bench.at_scale` (`make bench-scale`): lists, searches and counts at a million jobs.

Starts its own PostgreSQL (durable, as in production) and Redis, seeds `--jobs` jobs in a
busy system's mix (bench/seed.py), starts the API and one worker, then measures through
HTTP, from a client on the same machine:

- `GET /v1/jobs?limit=50` for every case of bench/list_cases.py (every filter alone and in
  pairs, with a common and a rare value, and the searches): the first page, and a page
  `--deep-pages` pages of 50 deep, reached by following `next_cursor` (a filter with fewer
  matches is measured as deep as its matches go, and the depth is reported);
- `GET /v1/jobs/count` per status and per queue, and `GET /v1/queues`;
- the seed's time, and migration 0007's index builds at this size (dropped and built again);
- what 0007's two GIN indexes (payload, error text) cost the hot path: rounds of jobs
  submitted in batches and run by the worker, with the indexes and without them,
  interleaved, each round's throughput and the WAL it wrote per job;
- an export of every succeeded job (`GET /v1/jobs/export`, JSON lines) read to the end,
  with the API's resident memory along the way (`--only export`);
- a prune in its steady state, before migration 0011 and after (`--only prune`);
- a bulk retry of BULK_JOBS dead jobs (`POST /v1/bulk-operations`, then confirm) carried
  out by the worker's leader while the worker runs OTHER_JOBS_RATE other jobs a second
  (in a second run, the jobs it retries too) and single submits go on at SUBMIT_RATE a
  second: the time from the confirmation to `done`, and the submits' p99 during it
  against their p99 just before, with the other jobs running (`--only bulk` alone).

`--only lists` measures the lists and counts alone (at ten million jobs, where the rest
would take an hour); any `--only` saves to bench/results/at_scale-<only>-<jobs>.json.

Latencies are p50 and p95 of ROUNDS requests after one warm-up. Writes
bench/results/at_scale.json and prints the README's "At a million jobs" table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import list_cases
from bench.seed import DAYS, QUEUE_SHARES, seed
from bench.servers import servers
from jobq_core.pg.db import Q
from jobq_core.pg.job_search import JobFilter
from jobq_core.pg.migrate import migrations
from tests.support.processes import service_env, start_api, start_worker

RESULTS = Path(__file__).parent / "results" / "at_scale.json"
ROUNDS = 20
WALK_LIMIT = 500  # the deep walk's page size: 1,000 pages of 50 in 100 requests
PAGE = 50
STATUSES = ["succeeded", "dead", "cancelled", "queued", "scheduled", "running"]
GIN_INDEXES = ("jobq_jobs_payload", "jobq_jobs_error_message")
WRITE_ROUNDS = 2  # per arm: with the GIN indexes, without, with, without
WRITE_JOBS = 5_000
WRITE_BATCH = 500
DAYS_KEPT = DAYS + 1
BULK_JOBS = 100_000
BULK_TAG = "bench-bulk-retry"
SUBMIT_RATE = 20  # single submits a second, before and during the bulk retry
OTHER_JOBS_RATE = 200  # other jobs a second the worker runs before and during it, in batches of a tenth
QUIET_S = 20.0  # how long the submits' p99 without a bulk operation is measured


@dataclass
class Stack:
    url: str
    pool: asyncpg.Pool
    client: httpx.AsyncClient
    seed_s: float
    api_pid: int


@asynccontextmanager
async def stack(jobs: int) -> AsyncIterator[Stack]:
    """PostgreSQL seeded with `jobs` jobs, Redis, the API, one worker, a client with an admin key."""
    seed_s = 0.0

    async def seeded(url: str) -> None:
        nonlocal seed_s
        seed_s = await seed(url, jobs, log=True)

    async with servers("jobq-bench-scale-", seeded) as s:
        api = await start_api(service_env(s.database_url, s.redis_url), s.tmp / "api.log")
        s.services.append(api.service)
        # Keep what was seeded: the default retention (7 days) would prune most of it meanwhile.
        kept = str(DAYS_KEPT * 86_400)
        worker_env = service_env(s.database_url, s.redis_url, JOBQ_RETENTION_S=kept, JOBQ_DEAD_RETENTION_S=kept)
        s.services.append(await start_worker(s.pool, worker_env, s.tmp / "worker.log"))
        headers = {"Authorization": f"Bearer {s.admin_key}"}
        async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=60) as client:
            yield Stack(api.url, s.pool, client, seed_s, api.service.process.pid)


def percentiles(seconds: list[float]) -> dict[str, float]:
    """p50 and p95 in milliseconds."""
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 1), "p95_ms": round(p95 * 1000, 1)}


async def timed(client: httpx.AsyncClient, path: str, params: dict[str, Any] | None = None) -> dict[str, float]:
    """Percentiles of ROUNDS GETs of `path` after one warm-up; every answer must be a 200."""
    times = []
    for i in range(ROUNDS + 1):
        started = time.perf_counter()
        response = await client.get(path, params=params)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            sys.exit(f"{response.request.url} answered {response.status_code}: {response.text}")
        if i:
            times.append(elapsed)
    return percentiles(times)


async def deep_cursor(client: httpx.AsyncClient, params: dict[str, Any], pages: int) -> tuple[str | None, int]:
    """The cursor `pages` pages of 50 into the list (or as deep as it goes) and how many jobs precede it."""
    cursor, depth = None, 0
    while depth < pages * PAGE:
        query = params | {"limit": min(WALK_LIMIT, pages * PAGE - depth)} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/jobs", params=query)).json()
        if page["next_cursor"] is None:
            break
        cursor, depth = page["next_cursor"], depth + len(page["jobs"])
    return cursor, depth


async def list_case(client: httpx.AsyncClient, filters: JobFilter, pages: int) -> dict[str, Any]:
    params = list_cases.query_params(filters)
    first = await timed(client, "/v1/jobs", params | {"limit": PAGE})
    cursor, depth = await deep_cursor(client, params, pages)
    deep_params = params | {"limit": PAGE} | ({"cursor": cursor} if cursor else {})
    deep = await timed(client, "/v1/jobs", deep_params)
    return {"first": first, "deep": deep, "deep_jobs": depth}


async def counts(client: httpx.AsyncClient) -> dict[str, dict[str, float]]:
    found = {}
    for status in STATUSES:
        found[f"status={status}"] = await timed(client, "/v1/jobs/count", {"status": status})
    for queue in QUEUE_SHARES:
        found[f"queue={queue}"] = await timed(client, "/v1/jobs/count", {"queue": queue})
    found["GET /v1/queues"] = await timed(client, "/v1/queues")
    return found


def index_builds() -> list[str]:
    """Migration 0007's CREATE INDEX statements."""
    (at_scale,) = [m for m in migrations() if m.version == 7]
    without_comments = re.sub(r"--[^\n]*", "", at_scale.sql)
    return [s.strip() for s in without_comments.split(";") if s.strip().startswith("CREATE INDEX")]


async def rebuild_0007(pool: asyncpg.Pool) -> float:
    """Seconds to build 0007's indexes again on the seeded table, as the migration does."""
    statements = index_builds()
    names = [s.split()[2] for s in statements]
    for name in names:
        await pool.execute(f"DROP INDEX {name}")
    started = time.monotonic()
    for statement in statements:
        await pool.execute(statement)
    return time.monotonic() - started


def write_round_jobs(round_no: int) -> list[dict[str, Any]]:
    """A round's jobs: a payload of about 1 KB each, one in 20 failing for good (an error to index)."""
    tag = f"write-round-{round_no}"
    jobs = []
    for n in range(WRITE_JOBS):
        if n % 20 == 0:
            jobs.append({"type": "jobq.fail", "payload": {"permanent": True, "message": f"invoice {n} refused"}})
        else:
            body = f"{n} " * 250
            jobs.append({"type": "jobq.noop", "payload": {"user": {"id": n}, "body": body[:1000]}})
        jobs[-1]["tags"] = [tag]
    return jobs


async def write_round(s: Stack, round_no: int) -> dict[str, float]:
    """Submit a round through the API and wait until the worker has finished all of it."""
    jobs = write_round_jobs(round_no)
    lsn_sql = "SELECT pg_current_wal_lsn()"
    wal_before = await s.pool.fetchval(lsn_sql)
    started = time.monotonic()
    for i in range(0, len(jobs), WRITE_BATCH):
        response = await s.client.post("/v1/jobs/batch", json={"jobs": jobs[i : i + WRITE_BATCH]})
        if response.status_code != 201:
            sys.exit(f"batch submit answered {response.status_code}: {response.text}")
    done_sql = "SELECT count(*) FROM jobq_jobs WHERE tags @> $1 AND status IN ('succeeded', 'dead')"
    while await s.pool.fetchval(done_sql, [f"write-round-{round_no}"]) < len(jobs):
        if time.monotonic() - started > 600:
            sys.exit(f"write round {round_no} did not finish in 600 s")
        await asyncio.sleep(0.2)
    elapsed = time.monotonic() - started
    wal = await s.pool.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)", wal_before)
    return {"jobs_per_s": round(len(jobs) / elapsed, 1), "wal_bytes_per_job": round(float(wal) / len(jobs))}


async def write_cost(s: Stack) -> dict[str, Any]:
    """Rounds with 0007's GIN indexes and without them, interleaved."""
    rows = await s.pool.fetch("SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY($1)", list(GIN_INDEXES))
    definitions: dict[str, str] = {r["indexname"]: r["indexdef"] for r in rows}
    arms: dict[str, list[dict[str, float]]] = {"with_gin": [], "without_gin": []}
    round_no = 0
    for _ in range(WRITE_ROUNDS):
        for arm in arms:
            if arm == "with_gin":
                for name in GIN_INDEXES:
                    await s.pool.execute(definitions[name].replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1))
            else:
                for name in GIN_INDEXES:
                    await s.pool.execute(f"DROP INDEX IF EXISTS {name}")
            await s.pool.execute("CHECKPOINT")  # each round starts with the same full-page-write debt
            round_no += 1
            arms[arm].append(await write_round(s, round_no))
            print(f"at_scale: write round {round_no} ({arm}): {arms[arm][-1]}", file=sys.stderr, flush=True)
    for name in GIN_INDEXES:
        await s.pool.execute(definitions[name].replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1))

    def mean(arm: str, key: str) -> float:
        return round(statistics.mean(r[key] for r in arms[arm]), 1)

    summary = {f"{arm}_{key}": mean(arm, key) for arm in arms for key in ("jobs_per_s", "wal_bytes_per_job")}
    return {"rounds": arms, **summary}


def p99_ms(seconds: list[float]) -> float:
    ordered = sorted(seconds)
    return round(ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1000, 1)


async def submits_until(client: httpx.AsyncClient, done: asyncio.Event) -> list[float]:
    """Single submits at SUBMIT_RATE a second until `done`; each one's latency."""
    latencies = []
    interval = 1 / SUBMIT_RATE
    next_at = time.monotonic()
    while not done.is_set():
        started = time.perf_counter()
        response = await client.post("/v1/jobs", json={"type": "jobq.noop", "tags": ["bench-single"]})
        latencies.append(time.perf_counter() - started)
        if response.status_code != 201:
            sys.exit(f"a single submit answered {response.status_code}: {response.text}")
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    return latencies


async def other_jobs_until(client: httpx.AsyncClient, done: asyncio.Event) -> int:
    """OTHER_JOBS_RATE no-op jobs a second, in batches, for the worker to run until `done`."""
    sent = 0
    batch = [{"type": "jobq.noop", "tags": ["bench-other"]}] * (OTHER_JOBS_RATE // 10)
    next_at = time.monotonic()
    while not done.is_set():
        response = await client.post("/v1/jobs/batch", json={"jobs": batch})
        if response.status_code != 201:
            sys.exit(f"a batch of other jobs answered {response.status_code}: {response.text}")
        sent += len(batch)
        next_at += 0.1
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    return sent


async def bulk_retry(s: Stack, run: bool) -> dict[str, Any]:
    """BULK_JOBS seeded jobs made dead noops, then retried by one bulk operation, while the
    worker runs OTHER_JOBS_RATE other jobs a second (before it too, for the p99 without it).

    With `run`, in the queue the worker serves, which then runs all of them meanwhile;
    without, in one no worker serves: the cost of the operation alone.
    """
    tag, queue = (f"{BULK_TAG}-run", "default") if run else (f"{BULK_TAG}-held", "bench-held")
    await s.pool.execute(
        "UPDATE jobq_jobs SET status = 'dead', type = 'jobq.noop', payload = '{}', tags = ARRAY[$1], queue = $3,"
        " max_attempts = attempts WHERE id IN"
        " (SELECT id FROM jobq_jobs WHERE status = 'succeeded' ORDER BY created_at DESC LIMIT $2)",
        tag,
        BULK_JOBS,
        queue,
    )
    await s.pool.execute("VACUUM ANALYZE jobq_jobs")
    stop_others = asyncio.Event()
    others = asyncio.create_task(other_jobs_until(s.client, stop_others))
    quiet = asyncio.Event()
    asyncio.get_running_loop().call_later(QUIET_S, quiet.set)
    without = await submits_until(s.client, quiet)

    body = {"action": "retry", "filter": {"tag": tag, "status": ["dead"]}}
    previewing = time.monotonic()
    operation = (await s.client.post("/v1/bulk-operations", json=body)).json()
    preview_ms = (time.monotonic() - previewing) * 1000
    finished = asyncio.Event()
    during = asyncio.create_task(submits_until(s.client, finished))
    started = time.monotonic()
    confirmed = await s.client.post(f"/v1/bulk-operations/{operation['id']}/confirm")
    if confirmed.status_code != 200:
        sys.exit(f"confirm answered {confirmed.status_code}: {confirmed.text}")
    while (now := (await s.client.get(f"/v1/bulk-operations/{operation['id']}")).json())["status"] == "running":
        if time.monotonic() - started > 600:
            sys.exit("the bulk retry did not finish in 600 s")
        await asyncio.sleep(0.2)
    elapsed = time.monotonic() - started
    left = 0
    if run:  # the submits go on until the worker has run what was retried
        while left := await s.pool.fetchval(
            "SELECT count(*) FROM jobq_jobs WHERE tags @> ARRAY[$1] AND status IN ('queued', 'running')", tag
        ):
            if time.monotonic() - started > 600:
                sys.exit(f"the worker did not run the retried jobs in 600 s ({left} left)")
            await asyncio.sleep(0.5)
    ran_s = time.monotonic() - started
    finished.set()
    with_bulk = await during
    stop_others.set()
    other_jobs = await others
    return {
        "jobs": BULK_JOBS,
        "queue": queue,
        "matched": operation["matched"],
        "changed": now["changed"],
        "skipped": now["skipped"],
        "seconds": round(elapsed, 1),
        "seconds_until_run": round(ran_s, 1) if run else None,
        "preview_ms": round(preview_ms, 1),
        "submit_p50_ms_without": round(statistics.median(without) * 1000, 1),
        "submit_p50_ms_during": round(statistics.median(with_bulk) * 1000, 1),
        "submit_p99_ms_without": p99_ms(without),
        "submit_p99_ms_during": p99_ms(with_bulk),
        "submits_without": len(without),
        "submits_during": len(with_bulk),
        "other_jobs_per_s": OTHER_JOBS_RATE,
        "other_jobs_submitted": other_jobs,
    }


async def bulk_retries(s: Stack) -> dict[str, Any]:
    held = await bulk_retry(s, run=False)
    print(f"at_scale: bulk retry, held: {held}", file=sys.stderr, flush=True)
    ran = await bulk_retry(s, run=True)
    print(f"at_scale: bulk retry, run: {ran}", file=sys.stderr, flush=True)
    return {"held": held, "run": ran}


# Before migration 0011: one index of every finished job, and one delete for both retentions.
PRUNE_BEFORE_0011_INDEX = (
    "CREATE INDEX jobq_jobs_finished_before_0011 ON jobq_jobs (finished_at)"
    " WHERE status IN ('succeeded', 'dead', 'cancelled')"
)
PRUNE_BEFORE_0011 = """DELETE FROM jobq_jobs WHERE id IN (
    SELECT id FROM jobq_jobs
    WHERE status IN ('succeeded', 'dead', 'cancelled')
      AND finished_at < now() - make_interval(secs => LEAST($1::float8, $2::float8))
      AND finished_at < now() - make_interval(secs => CASE WHEN status = 'dead' THEN $2::float8 ELSE $1::float8 END)
    LIMIT $3
) RETURNING id"""
RETENTION_S, DEAD_RETENTION_S = 7 * 86_400.0, 30 * 86_400.0  # the worker's defaults
PRUNE_DUE_S = 60.0  # a minute of jobs left due: what a prune a minute meets


def rows_read(plan: dict[str, Any]) -> int:
    """Rows the plan's scans of jobq_jobs read, kept or filtered out."""
    read = 0
    if plan.get("Relation Name") == "jobq_jobs" and "Scan" in plan["Node Type"]:
        read += int((plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)) * plan["Actual Loops"])
    return read + sum(rows_read(child) for child in plan.get("Plans", []))


async def explain_delete(pool: asyncpg.Pool, sql: str, *args: Any) -> dict[str, Any]:
    """Rows deleted, rows read and milliseconds of `sql`, median of three runs, each rolled back."""
    runs = []
    for _ in range(3):
        async with pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            try:
                plan = json.loads(await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args))[0]
            finally:
                await tx.rollback()
        runs.append(
            {"deleted": plan["Plan"]["Actual Rows"], "read": rows_read(plan["Plan"]), "ms": plan["Execution Time"]}
        )
    runs.sort(key=lambda r: r["ms"])
    return {**runs[1], "ms": round(runs[1]["ms"], 1)}


async def prune_cost(s: Stack) -> dict[str, Any]:
    """A prune's cost in its steady state, before migration 0011 and after, on the same table.

    The succeeded and cancelled jobs past the default retention are deleted first but for
    a minute's worth, as a prune a minute leaves them; the dead ones, kept 30 days, stay.
    Then each statement runs once under EXPLAIN ANALYZE (rolled back): before 0011, its one
    delete through the index of every finished job (built again for this); after, the two.
    The last measurement: it deletes most of the seed.
    """
    await s.pool.execute(
        "DELETE FROM jobq_jobs WHERE status IN ('succeeded', 'cancelled')"
        " AND finished_at < now() - make_interval(secs => $1::float8)",
        RETENTION_S + PRUNE_DUE_S,
    )
    await s.pool.execute(PRUNE_BEFORE_0011_INDEX)
    await s.pool.execute("VACUUM ANALYZE jobq_jobs")
    dead_kept = await s.pool.fetchval(
        "SELECT count(*) FROM jobq_jobs WHERE status = 'dead'"
        " AND finished_at < now() - make_interval(secs => $1::float8)",
        RETENTION_S,
    )
    before = await explain_delete(s.pool, PRUNE_BEFORE_0011, RETENTION_S, DEAD_RETENTION_S, 500)
    await s.pool.execute("DROP INDEX jobq_jobs_finished_before_0011")
    done = await explain_delete(s.pool, Q["prune_done_jobs"], RETENTION_S, 500)
    dead = await explain_delete(s.pool, Q["prune_dead_jobs"], DEAD_RETENTION_S, 500)
    after = {"deleted": done["deleted"] + dead["deleted"], "read": done["read"] + dead["read"]}
    return {
        "dead_older_than_retention": dead_kept,
        "before_0011": before,
        "after_0011": {**after, "ms": round(done["ms"] + dead["ms"], 1)},
    }


def rss_mib(pid: int) -> float:
    """The resident memory of process `pid`, in MiB (Linux's /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    kib = int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)[1])  # type: ignore[index]
    return round(kib / 1024, 1)


async def export_memory(s: Stack, jobs: int) -> dict[str, Any]:
    """`GET /v1/jobs/export` of every succeeded job (95 % of them), JSON lines, read to the
    end by a client; the API's RSS before, after each tenth of the rows, at its highest and at the end."""
    rows, started = 0, time.monotonic()
    before = rss_mib(s.api_pid)
    highest = before
    tenths: list[float] = []
    expected = round(0.95 * jobs)  # about the succeeded share
    async with s.client.stream("GET", "/v1/jobs/export", params={"status": "succeeded"}, timeout=600) as response:
        if response.status_code != 200:
            sys.exit(f"export answered {response.status_code}: {(await response.aread()).decode()}")
        async for chunk in response.aiter_bytes():
            rows += chunk.count(b"\n")
            highest = max(highest, rss := rss_mib(s.api_pid))
            if rows >= (len(tenths) + 1) * expected // 10:
                tenths.append(rss)
    elapsed = time.monotonic() - started
    return {
        "rows": rows,
        "seconds": round(elapsed, 1),
        "rows_per_s": round(rows / elapsed),
        "rss_mib_before": before,
        "rss_mib_at_each_tenth": tenths,
        "rss_mib_at_a_tenth": tenths[0] if tenths else None,
        "rss_mib_highest": highest,
        "rss_mib_end": rss_mib(s.api_pid),
    }


async def measure(jobs: int, pages: int, only: str | None = None) -> dict[str, Any]:
    async with stack(jobs) as s:
        print(f"at_scale: seeded {jobs:,} jobs in {s.seed_s:.0f} s", file=sys.stderr, flush=True)
        if only == "bulk":
            return {"jobs": jobs, "bulk_retry": await bulk_retries(s)}
        if only == "export":
            return {"jobs": jobs, "export": await export_memory(s, jobs)}
        if only == "prune":
            return {"jobs": jobs, "prune": await prune_cost(s)}
        now = datetime.now(UTC)
        lists = {}
        for name, filters in list_cases.filter_cases(now):
            lists[name] = await list_case(s.client, filters, pages)
            print(f"at_scale: {name}: {lists[name]}", file=sys.stderr, flush=True)
        count_times = await counts(s.client)
        if only == "lists":
            seed_s = round(s.seed_s, 1)
            return {"jobs": jobs, "deep_pages": pages, "seed_s": seed_s, "lists": lists, "counts": count_times}
        rebuild_s = await rebuild_0007(s.pool)
        writes = await write_cost(s)
        export = await export_memory(s, jobs)
        print(f"at_scale: export: {export}", file=sys.stderr, flush=True)
        bulk = await bulk_retries(s)
        prune = await prune_cost(s)
        print(f"at_scale: prune: {prune}", file=sys.stderr, flush=True)
        return {
            "jobs": jobs,
            "deep_pages": pages,
            "rounds": ROUNDS,
            "seed_s": round(s.seed_s, 1),
            "migration_0007_build_s": round(rebuild_s, 1),
            "lists": lists,
            "counts": count_times,
            "gin_write_cost": writes,
            "export": export,
            "bulk_retry": bulk,
            "prune": prune,
        }


def worst(lists: dict[str, Any], names: list[str], page: str) -> tuple[float, str]:
    return max((lists[n][page]["p95_ms"], n) for n in names)


def table(r: dict[str, Any]) -> str:
    lists = r["lists"]
    plain = [n for n in lists if not n.startswith("search")]
    payload = [n for n in lists if "payload" in n]
    error_7d = [n for n in lists if "error" in n and "created_after" in n]
    first, first_name = worst(lists, plain, "first")
    deep, deep_name = worst(lists, plain, "deep")
    counts_p95 = max(c["p95_ms"] for name, c in r["counts"].items() if name.startswith(("status", "queue")))
    w = r["gin_write_cost"]
    rows = [
        (f"Seed {r['jobs']:,} jobs (`python -m bench.seed`)", f"{r['seed_s']} s", "≤ 120 s at 1M"),
        (
            "`GET /v1/jobs?limit=50`, first page, any filter or pair (worst p95)",
            f"{first} ms ({first_name})",
            "≤ 100 ms",
        ),
        (f"… {r['deep_pages']:,} pages deep (worst p95)", f"{deep} ms ({deep_name})", "≤ 100 ms"),
        ("Payload search `payload=user.id=4242` (worst p95)", f"{worst(lists, payload, 'first')[0]} ms", "≤ 300 ms"),
        ("Error text over the last 7 days (p95)", f"{worst(lists, error_7d, 'first')[0]} ms", "≤ 500 ms"),
        ("`GET /v1/jobs/count` by status or queue (worst p95)", f"{counts_p95} ms", "≤ 50 ms"),
        ("`GET /v1/queues` (p95)", f"{r['counts']['GET /v1/queues']['p95_ms']} ms", "≤ 50 ms"),
        ("Migration 0007's index builds", f"{r['migration_0007_build_s']} s", "stated"),
        (
            "Hot path with 0007's GIN indexes / without (jobs/s; WAL bytes/job)",
            f"{w['with_gin_jobs_per_s']} / {w['without_gin_jobs_per_s']};"
            f" {w['with_gin_wal_bytes_per_job']:.0f} / {w['without_gin_wal_bytes_per_job']:.0f}",
            "stated",
        ),
    ]
    e = r["export"]
    rows.append(
        (
            f"`GET /v1/jobs/export?status=succeeded` ({e['rows']:,} JSON lines): time; API RSS before,"
            " at a tenth, highest",
            f"{e['seconds']} s; {e['rss_mib_before']}, {e['rss_mib_at_a_tenth']}, {e['rss_mib_highest']} MiB",
            "flat",
        )
    )
    held, ran = r["bulk_retry"]["held"], r["bulk_retry"]["run"]
    rows += [
        (
            f"Bulk retry of {held['jobs']:,} dead jobs, confirm to done: held in an unserved queue / run meanwhile",
            f"{held['seconds']} s / {ran['seconds']} s (all run {ran['seconds_until_run']} s)",
            "≤ 60 s",
        ),
        (
            "Single submits' p99 during it / without it: held / run",
            f"{held['submit_p99_ms_during']} / {held['submit_p99_ms_without']} ms;"
            f" {ran['submit_p99_ms_during']} / {ran['submit_p99_ms_without']} ms",
            "≤ 2×",
        ),
    ]
    pb, pa = r["prune"]["before_0011"], r["prune"]["after_0011"]
    rows.append(
        (
            f"A prune, steady state (a minute's jobs due, {r['prune']['dead_older_than_retention']:,} dead kept"
            " longer): rows read, ms — one index before 0011 / one per retention",
            f"{pb['read']:,} rows, {pb['ms']} ms / {pa['read']:,} rows, {pa['ms']} ms",
            "follows what it removes",
        )
    )
    lines = ["| Measure | Result | Target |", "| --- | --- | --- |"]
    return "\n".join([*lines, *(f"| {' | '.join(row)} |" for row in rows)])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.at_scale", description=__doc__.split("\n")[0])
    p.add_argument("--jobs", type=int, default=1_000_000, help="jobs to seed (default 1,000,000)")
    p.add_argument("--deep-pages", type=int, default=1_000, help="how deep the deep page is, in pages of 50")
    p.add_argument(
        "--only",
        choices=["lists", "bulk", "export", "prune"],
        help="measure only this: results printed and saved as bench/results/at_scale-<only>-<jobs>.json",
    )
    args = p.parse_args(argv)
    result = asyncio.run(measure(args.jobs, args.deep_pages, args.only))
    if args.only:
        RESULTS.with_name(f"at_scale-{args.only}-{args.jobs}.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        return
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))


if __name__ == "__main__":
    main()
