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
  interleaved, each round's throughput and the WAL it wrote per job.

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


@dataclass
class Stack:
    url: str
    pool: asyncpg.Pool
    client: httpx.AsyncClient
    seed_s: float


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
            yield Stack(api.url, s.pool, client, seed_s)


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


async def measure(jobs: int, pages: int) -> dict[str, Any]:
    async with stack(jobs) as s:
        print(f"at_scale: seeded {jobs:,} jobs in {s.seed_s:.0f} s", file=sys.stderr, flush=True)
        now = datetime.now(UTC)
        lists = {}
        for name, filters in list_cases.filter_cases(now):
            lists[name] = await list_case(s.client, filters, pages)
            print(f"at_scale: {name}: {lists[name]}", file=sys.stderr, flush=True)
        count_times = await counts(s.client)
        rebuild_s = await rebuild_0007(s.pool)
        writes = await write_cost(s)
        return {
            "jobs": jobs,
            "deep_pages": pages,
            "rounds": ROUNDS,
            "seed_s": round(s.seed_s, 1),
            "migration_0007_build_s": round(rebuild_s, 1),
            "lists": lists,
            "counts": count_times,
            "gin_write_cost": writes,
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
    lines = ["| Measure | Result | Target |", "| --- | --- | --- |"]
    return "\n".join([*lines, *(f"| {' | '.join(row)} |" for row in rows)])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.at_scale", description=__doc__.split("\n")[0])
    p.add_argument("--jobs", type=int, default=1_000_000, help="jobs to seed (default 1,000,000)")
    p.add_argument("--deep-pages", type=int, default=1_000, help="how deep the deep page is, in pages of 50")
    args = p.parse_args(argv)
    result = asyncio.run(measure(args.jobs, args.deep_pages))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))


if __name__ == "__main__":
    main()
