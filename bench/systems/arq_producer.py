"""The producer of the ARQ-app comparison: `arq.create_pool` and `enqueue_job`, one call per job.

It runs in ARQ's venv for both workers (ARQ's own and `jobq-worker --arq`), so the two are
fed by the same code. Each job's run is read back from the app's records
(`bench.systems.arq_app`); that it *completed* is read the way an ARQ user reads it, from
ARQ's result keys (``Job.status()`` is complete once one exists), and a sample of results
through ``Job.result()``.

    python -m bench.systems.arq_producer client pickup '{"jobs": 200, "interval_s": 0.05, ...}'
    python -m bench.systems.arq_producer client drain '{"jobs": 5000, ...}'

`pickup`: one job at a time at a low rate, at jittered intervals (a fixed interval would
lock to the workers' fixed poll period and measure one phase of it); handler start −
``enqueue_job`` returned. `drain`: N jobs enqueued before the measured part, into a
staging sorted set (``_queue_name``) no worker reads; at GO they are moved into ARQ's
queue in one transaction, so both workers find N jobs waiting at the same instant, and
the measured part is draining them: from that move until every job's result exists.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.constants import default_queue_name, result_key_prefix
from arq.jobs import Job

from bench.systems import common

STAGING_QUEUE = "bench:arq-app:staging"
JITTER = 0.5  # each pickup interval is uniform in [1 - JITTER, 1 + JITTER] × interval_s
RESULT_SAMPLE = 20  # results read back through Job.result() per scenario
EXISTS_CHUNK = 1_000


class Producer:
    """An ARQ producer, as an ARQ user makes one (JSON, as jobq asks)."""

    async def setup(self) -> None:
        """Connect."""
        from bench.systems.arq_app import serialize

        self.pool: ArqRedis = await create_pool(
            RedisSettings.from_dsn(common.redis_url()), job_serializer=serialize, job_deserializer=json.loads
        )
        self.recs = common.RedisRecords(self.pool)
        self.job_ids: dict[int, str] = {}

    async def close(self) -> None:
        """Disconnect."""
        await self.pool.aclose()

    async def enqueue(self, i: int, queue: str | None = None) -> None:
        """One `enqueue_job` of the app's function."""
        job = await self.pool.enqueue_job("work", self.recs.run, i, _queue_name=queue)
        if job is None:
            raise RuntimeError(f"enqueue_job refused job {i}: its id exists")
        self.job_ids[i] = job.job_id

    async def results_exist(self, timeout_s: float) -> int:
        """Wait until every enqueued job's ARQ result exists (or the time is up); how many do."""
        keys = [result_key_prefix + job_id for job_id in self.job_ids.values()]
        deadline = time.monotonic() + timeout_s
        while True:
            found = 0
            for offset in range(0, len(keys), EXISTS_CHUNK):
                found += await self.pool.exists(*keys[offset : offset + EXISTS_CHUNK])
            if found >= len(keys) or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(common.WAIT_POLL_S)

    async def check_results(self) -> dict[str, Any]:
        """A sample of results through ARQ's `Job.result()`: each must be the job's index."""
        sample = sorted(self.job_ids)[:: max(1, len(self.job_ids) // RESULT_SAMPLE)][:RESULT_SAMPLE]
        wrong = 0
        for i in sample:
            job = Job(self.job_ids[i], self.pool, _queue_name=default_queue_name, _deserializer=json.loads)
            if await job.result(timeout=10) != i:
                wrong += 1
        return {"results_checked": len(sample), "results_wrong": wrong}

    # -- the scenarios ---------------------------------------------------------------

    async def prepare_drain(self, spec: dict[str, Any]) -> None:
        """Before the measured part: enqueue the N jobs where no worker looks yet."""
        await self.recs.reset()
        await self.pool.delete(STAGING_QUEUE)

        async def one(i: int, kind: str) -> None:
            await self.enqueue(i, STAGING_QUEUE)

        await common.submit_concurrently(one, [(i, "noop") for i in range(spec["jobs"])])

    async def drain(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Release the staged jobs into ARQ's queue at once; wait until every one completed."""
        n = spec["jobs"]
        async with self.pool.pipeline(transaction=True) as tr:
            tr.zunionstore(default_queue_name, [default_queue_name, STAGING_QUEUE])
            tr.delete(STAGING_QUEUE)
            released = time.time()
            await tr.execute()
        records = await self.recs.wait(n, spec["timeout_s"])
        results = await self.results_exist(max(1.0, spec["timeout_s"] - (time.time() - released)))
        completed = time.time()
        result: dict[str, Any] = {"jobs": n, "results": results, **common.completeness(records, n)}
        if records and results == n and result["missing"] == 0:
            result.update(
                elapsed_s=completed - released,
                jobs_per_s=n / (completed - released),
                last_run_s=max(r.ended for r in records) - released,
            )
        result.update(await self.check_results())
        return result

    async def pickup(self, spec: dict[str, Any]) -> dict[str, Any]:
        """One job at a time into idle workers, at jittered intervals; handler start − enqueue returned."""
        n, interval = spec["jobs"], spec["interval_s"]
        await self.recs.reset()
        jitter = random.Random(n)
        accepted: dict[int, float] = {}
        due = time.monotonic()
        for i in range(n):
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            await self.enqueue(i)
            accepted[i] = time.time()
            due += interval * jitter.uniform(1 - JITTER, 1 + JITTER)
        records = await self.recs.wait(n, spec["timeout_s"])
        results = await self.results_exist(10.0)
        complete = common.completeness(records, n)
        latencies = [r.started - accepted[r.i] for r in records if r.i in accepted]
        return {
            "jobs": n,
            "interval_s": interval,
            "results": results,
            **complete,
            **common.percentiles(latencies),
            **await self.check_results(),
        }


async def run_client(scenario: str, spec: dict[str, Any]) -> None:
    """Connect, prepare, READY, wait for GO, run, print the result (the harness's protocol)."""
    if scenario not in ("pickup", "drain"):
        raise SystemExit(f"unknown scenario {scenario!r}: pickup or drain")
    producer = Producer()
    await producer.setup()
    try:
        if scenario == "drain":
            await producer.prepare_drain(spec)
        print("READY", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        result = await (producer.drain(spec) if scenario == "drain" else producer.pickup(spec))
    finally:
        await producer.close()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "client":
        raise SystemExit("usage: client <pickup|drain> <spec json>")
    common.run_async(run_client(sys.argv[2], json.loads(sys.argv[3])))
