"""/metrics parsed with prometheus-client's own parser: counts equal what the workload did."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from pathlib import Path

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Servers
from tests.observability.conftest import Stack, start_stack
from tests.support.wait import until

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

FAIL = "jobq.fail"
NOOP = "jobq.noop"
DELIBERATE = "jobq_worker.handlers.demo.DeliberateFailure"


def parse(text: str) -> Samples:
    """Every sample of a metrics page, by name and label set."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str) -> float:
    """The sum over every series of a name."""
    return sum(v for (n, _), v in samples.items() if n == name)


async def scrape(client: httpx.AsyncClient, url: str) -> Samples:
    """GET a metrics page on a new connection (a pooled one may have idled out meanwhile)."""
    async with httpx.AsyncClient(base_url=client.base_url, timeout=10) as fresh:
        response = await fresh.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)


async def test_100_jobs_with_7_failing_twice_give_exact_counters(stack: Stack, db: asyncpg.Pool) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.auth, timeout=10) as client:
        jobs = [{"type": NOOP}] * 93 + [{"type": FAIL, "payload": {"times": 2}}] * 7
        sem = asyncio.Semaphore(10)

        async def submit(job: dict[str, object]) -> str:
            async with sem:
                response = await client.post("/v1/jobs", json=job)
            assert response.status_code == 201, response.text
            return str(response.json()["id"])

        ids = await asyncio.gather(*(submit(job) for job in jobs))
        # A repeated idempotency key creates no job and is not counted as submitted.
        first = await client.post("/v1/jobs", json={"type": NOOP, "idempotency_key": "once"})
        again = await client.post("/v1/jobs", json={"type": NOOP, "idempotency_key": "once"})
        assert (first.status_code, again.status_code) == (201, 200)
        ids.append(first.json()["id"])
        assert (await client.get(f"/v1/jobs/{ids[0]}")).status_code == 200
        assert (await client.get("/v1/no-such-thing/42")).status_code == 404
        assert (await client.get(f"/v1/jobs/{ids[0]}", headers={"Authorization": "Bearer nope"})).status_code == 401

        async def all_succeeded() -> bool:
            count = await db.fetchval("SELECT count(*) FROM jobq_jobs WHERE status = 'succeeded'")
            return bool(count == 101)

        await until(all_succeeded, timeout_s=60, what="101 jobs to succeed")

        worker_url = stack.worker_metrics_urls[0]

        async def worker_caught_up() -> Samples | None:
            samples = await scrape(client, worker_url)
            return samples if total(samples, "jobq_jobs_succeeded_total") == 101 else None

        worker = await until(worker_caught_up, timeout_s=30, what="the worker's counters to catch up")
        api = await scrape(client, "/metrics")

    # The API: jobs submitted by type and queue, requests by route template and status.
    assert value(api, "jobq_jobs_submitted_total", type=NOOP, queue="default") == 94
    assert value(api, "jobq_jobs_submitted_total", type=FAIL, queue="default") == 7
    posts = {"route": "/v1/jobs", "method": "POST"}
    assert value(api, "jobq_api_requests_total", **posts, status="201") == 101
    assert value(api, "jobq_api_requests_total", **posts, status="200") == 1
    job_route = {"route": "/v1/jobs/{job_id}", "method": "GET"}
    assert value(api, "jobq_api_requests_total", **job_route, status="200") == 1
    assert value(api, "jobq_api_requests_total", **job_route, status="401") == 1
    assert value(api, "jobq_api_requests_total", route="unmatched", method="GET", status="404") == 1
    assert value(api, "jobq_api_request_duration_seconds_count", **posts) == 102
    # No raw URL and no id ever becomes a label value.
    routes = {dict(labels).get("route") for (name, labels) in api if name == "jobq_api_requests_total"}
    assert not any(r and (ids[0] in r or "no-such-thing" in r) for r in routes), routes

    # The worker: every attempt and its outcome, by type and queue.
    noop, fail = {"type": NOOP, "queue": "default"}, {"type": FAIL, "queue": "default"}
    expected = {
        "jobq_jobs_started_total": (94, 21),
        "jobq_jobs_succeeded_total": (94, 7),
        "jobq_jobs_failed_total": (0, 14),
        "jobq_jobs_retried_total": (0, 14),
        "jobq_jobs_dead_total": (0, 0),
        "jobq_jobs_cancelled_total": (0, 0),
        "jobq_job_run_seconds_count": (94, 21),
        "jobq_job_queue_wait_seconds_count": (94, 21),
        "jobq_jobs_in_flight": (0, 0),
    }
    found = {name: (value(worker, name, **noop), value(worker, name, **fail)) for name in expected}
    assert found == expected
    assert value(worker, "jobq_handler_errors_total", type=FAIL, exception=DELIBERATE) == 14
    assert total(worker, "jobq_handler_errors_total") == 14
    # Run time: the histogram's buckets are cumulative and end in the count.
    buckets: dict[str, float] = defaultdict(float)
    for (name, labels), v in worker.items():
        if name == "jobq_job_run_seconds_bucket" and dict(labels)["type"] == NOOP:
            buckets[dict(labels)["le"]] = v
    assert buckets["+Inf"] == 94
    assert 0 <= value(worker, "jobq_worker_heartbeat_age_seconds") < 5
    assert value(worker, "jobq_worker_concurrency") == 10

    # Gauges of the leader: the only worker leads (within a snapshot interval of its
    # start: the jobs may all be done before that), and publishes the queue's state.
    async def snapshot_shows_all_done() -> Samples | None:
        async with httpx.AsyncClient(timeout=5) as c:
            samples = await scrape(c, worker_url)
        ready = value(samples, "jobq_queue_jobs", queue="default", state="ready")
        running = value(samples, "jobq_queue_jobs", queue="default", state="running")
        alive = value(samples, "jobq_workers_alive")
        return samples if (ready, running, alive) == (0, 0, 1) else None

    leader = await until(snapshot_shows_all_done, timeout_s=30, what="the leader's snapshot")
    assert value(leader, "jobq_worker_is_leader") == 1
    assert value(leader, "jobq_queue_jobs", queue="default", state="dead") == 0
    assert value(leader, "jobq_queue_oldest_ready_age_seconds", queue="default") == 0
    # The API shows none of the worker's metrics, and the worker none of the API's.
    assert total(api, "jobq_jobs_started_total") == 0 and not any(n.startswith("jobq_worker") for n, _ in api)
    assert not any(n.startswith("jobq_api") for n, _ in worker)


async def test_an_attempt_lost_with_its_worker_is_counted_by_the_leader(
    servers: Servers, db: asyncpg.Pool, tmp_path: Path
) -> None:
    """kill -9 the worker running a job's last attempt: the leader counts it failed and dead."""
    stack = await start_stack(servers, db, tmp_path, workers=2, JOBQ_WORKER_TIMEOUT_S="3")
    try:
        async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.auth, timeout=10) as client:
            job = {"type": "jobq.sleep", "payload": {"seconds": 120}, "max_attempts": 1}
            job_id = (await client.post("/v1/jobs", json=job)).json()["id"]

            async def running_on() -> int | None:
                pid: int | None = await db.fetchval(
                    "SELECT w.pid FROM jobq_jobs j JOIN jobq_workers w ON w.id = j.worker_id"
                    " WHERE j.id = $1 AND j.status = 'running'",
                    uuid.UUID(job_id),
                )
                return pid

            pid = await until(running_on, timeout_s=20, what="the job to run")
            workers = stack.services[1:]
            victim = next(s for s in workers if s.process.pid == pid)
            survivor_url = stack.worker_metrics_urls[workers.index(victim) ^ 1]
            victim.kill()

            async def counted() -> Samples | None:
                samples = await scrape(client, survivor_url)
                return samples if value(samples, "jobq_jobs_dead_total", type="jobq.sleep", queue="default") else None

            samples = await until(counted, timeout_s=30, what="the leader to count the lost attempt")
        assert await db.fetchval("SELECT status FROM jobq_jobs WHERE id = $1", uuid.UUID(job_id)) == "dead"
        sleep = {"type": "jobq.sleep", "queue": "default"}
        assert value(samples, "jobq_jobs_dead_total", **sleep) == 1
        assert value(samples, "jobq_jobs_failed_total", **sleep) == 1
        assert value(samples, "jobq_jobs_retried_total", **sleep) == 0
        assert value(samples, "jobq_worker_is_leader") == 1
    finally:
        codes = [s.stop() for s in stack.services if not s.killed]
    assert codes == [0, 0], "\n".join(s.log() for s in stack.services)
