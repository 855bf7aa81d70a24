"""jobq through its HTTP API: single submits (`POST /v1/jobs`) and batches (`POST /v1/jobs/batch`).

The client is aiohttp: httpx costs the client several times more CPU per request, and on
a 2-core machine that made the client, not jobq, the limit of the load scenario.

The workers are `python -m jobq_worker` itself, with `bench.systems.jobq_handlers` loaded.
What happened to each job is read from PostgreSQL, jobq's durable record: a job is
finished at its `finished_at`; its handler started when `bench.stamp` says it did.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Sequence
from typing import Any

import aiohttp
import asyncpg
import orjson
import redis.asyncio

from bench.systems import common
from jobq_core.names import DEFAULT_QUEUE, redis_queue_key

BATCH = 1_000
# Scenario 4 keeps this many batch calls in flight, as a few producers would: one call
# at a time measures one client's round trips (PostgreSQL, then Redis, then the API's
# own work, none overlapping), not what the API accepts.
BATCHES_IN_FLIGHT = 4
WAIT_POLL_S = 0.1  # a count over the scenario's rows: cheap, but not free for PostgreSQL
TYPES = {"noop": "jobq.noop", "stamp": "bench.stamp", "flaky": "bench.flaky"}
API_SAMPLE = 20  # flaky jobs whose attempts are also checked through the API

RECORDS_SQL = """
SELECT (payload->>'i')::int AS i, attempts,
       COALESCE((result->>'started')::float8, extract(epoch FROM started_at)::float8) AS started,
       extract(epoch FROM finished_at)::float8 AS ended
FROM jobq_jobs WHERE tags @> $1::text[] AND status = 'succeeded'
"""
COUNT_SQL = """
SELECT count(*) FILTER (WHERE status = 'succeeded') AS done, count(*) FILTER (WHERE status = 'dead') AS dead
FROM jobq_jobs WHERE tags @> $1::text[]
"""
ATTEMPTS_SQL = """
SELECT j.id, (j.payload->>'i')::int AS i, j.status, j.attempts,
       count(a.job_id) FILTER (WHERE a.outcome = 'failed') AS failed,
       count(a.job_id) FILTER (WHERE a.outcome = 'succeeded') AS succeeded
FROM jobq_jobs j LEFT JOIN jobq_job_attempts a ON a.job_id = j.id
WHERE j.tags @> $1::text[] GROUP BY j.id
"""


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"{name} is not set (the harness sets it)")
    return value


class JobqClient:
    """Submits over HTTP; reads outcomes from PostgreSQL."""

    tag = "bench"

    async def setup(self) -> None:
        """Connect to the API and to PostgreSQL."""
        self.http = aiohttp.ClientSession(
            base_url=_env("BENCH_JOBQ_API_URL"),
            headers={"Authorization": f"Bearer {_env('BENCH_JOBQ_API_KEY')}", "Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=120),
            connector=aiohttp.TCPConnector(limit=100),
        )
        self.db = await asyncpg.connect(_env("BENCH_DATABASE_URL"))

    async def close(self) -> None:
        """Disconnect."""
        await self.http.close()
        await self.db.close()

    async def reset(self, scenario: str) -> None:
        """A fresh tag for this scenario's jobs: earlier rows no longer count."""
        self.tag = f"bench-{scenario}-{uuid.uuid4().hex[:8]}"

    def _job(self, i: int, kind: str) -> dict[str, Any]:
        payload: dict[str, Any] = {"i": i}
        if kind == "flaky":
            payload["fail_times"] = common.FLAKY_FAILURES
        return {"type": TYPES[kind], "payload": payload, "tags": [self.tag]}

    async def submit(self, i: int, kind: str) -> None:
        """One `POST /v1/jobs`; accepted (committed) when it answers 201."""
        await self._post("/v1/jobs", self._job(i, kind))

    async def _post(self, path: str, body: dict[str, Any]) -> None:
        async with self.http.post(path, data=orjson.dumps(body)) as response:
            if response.status != 201:
                raise RuntimeError(f"POST {path} answered {response.status}: {(await response.text())[:300]}")

    async def submit_many(self, items: Sequence[tuple[int, str]]) -> None:
        """`POST /v1/jobs/batch` of 1,000 jobs per call, one call after another."""
        for offset in range(0, len(items), BATCH):
            body = {"jobs": [self._job(i, kind) for i, kind in items[offset : offset + BATCH]]}
            await self._post("/v1/jobs/batch", body)

    async def records(self, n: int, timeout_s: float) -> list[common.Record]:
        """Wait until `n` of this scenario's jobs succeeded (or any died, or the time is up)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            counts = await self.db.fetchrow(COUNT_SQL, [self.tag])
            if counts["done"] >= n or counts["dead"]:
                break
            await asyncio.sleep(WAIT_POLL_S)
        rows = await self.db.fetch(RECORDS_SQL, [self.tag])
        return [common.Record(r["i"], r["started"], r["ended"], r["attempts"]) for r in rows]

    async def check_mixed(self, n: int) -> dict[str, Any]:
        """Every job succeeded with its failed attempts recorded, in PostgreSQL and through the API."""
        rows = await self.db.fetch(ATTEMPTS_SQL, [self.tag])
        wrong = []
        for r in rows:
            failures = common.FLAKY_FAILURES if common.is_flaky(r["i"], True) else 0
            if (r["status"], r["attempts"], r["failed"], r["succeeded"]) != ("succeeded", failures + 1, failures, 1):
                wrong.append(r["i"])
        api_wrong = 0
        flaky_ids = [r["id"] for r in rows if common.is_flaky(r["i"], True)][:API_SAMPLE]
        for job_id in flaky_ids:
            async with self.http.get(f"/v1/jobs/{job_id}") as response:
                job = await response.json()
            if job.get("status") != "succeeded" or job.get("attempts") != common.FLAKY_FAILURES + 1:
                api_wrong += 1
        return {
            "rows": len(rows),
            "wrong_attempt_history": len(wrong),
            "api_checked": len(flaky_ids),
            "api_wrong": api_wrong,
            "system_ok": len(rows) == n and not wrong and api_wrong == 0,
        }

    async def scenario_batch(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Scenario 4: jobs accepted per second through `POST /v1/jobs/batch` (workers stopped).

        When a call returns, its jobs are committed in PostgreSQL and enqueued in Redis;
        afterwards both are counted.
        """
        n = spec["jobs"]
        await self.reset("batch")
        queue_key = redis_queue_key(DEFAULT_QUEUE)
        rd = redis.asyncio.Redis.from_url(_env("BENCH_REDIS_URL"))
        try:
            before = await rd.zcard(queue_key)
            items = [(i, "noop") for i in range(n)]
            slots = asyncio.Semaphore(BATCHES_IN_FLIGHT)

            async def one_call(offset: int) -> None:
                async with slots:
                    await self.submit_many(items[offset : offset + BATCH])

            t0 = time.perf_counter()
            await asyncio.gather(*(one_call(offset) for offset in range(0, n, BATCH)))
            elapsed = time.perf_counter() - t0
            in_redis = await rd.zcard(queue_key) - before
        finally:
            await rd.aclose()
        in_postgres = await self.db.fetchval("SELECT count(*) FROM jobq_jobs WHERE tags @> $1::text[]", [self.tag])
        return {
            "jobs": n,
            "batch_size": BATCH,
            "calls_in_flight": BATCHES_IN_FLIGHT,
            "elapsed_s": elapsed,
            "jobs_per_s": n / elapsed,
            "in_postgres": in_postgres,
            "in_redis": in_redis,
            "correct": in_postgres == n and in_redis == n,
        }


def _no_worker() -> None:
    raise SystemExit("jobq's workers are `python -m jobq_worker` itself")


if __name__ == "__main__":
    common.main(JobqClient, _no_worker)
