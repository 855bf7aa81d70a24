"""ARQ apps run on jobq unchanged: ARQ's own producer and Job handle against jobq workers.

The app is `tests/arq/app.py`, written as ARQ's documentation writes one; the producer
uses only `arq.create_pool` and `enqueue_job`, and reads results with ARQ's `Job`. The
workers are real `jobq-worker --arq` processes on the session's PostgreSQL and Redis.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncpg
import httpx
import pytest
from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.jobs import Job, JobStatus, SerializationError
from jobq_devrun.servers import free_port

from tests.conftest import Servers
from tests.support.cluster import Cluster
from tests.support.processes import service_env
from tests.support.wait import until

APP = "tests.arq.app.WorkerSettings"
WORKER_TIMEOUT_S = 3
ROOT = Path(__file__).resolve().parents[2]


def serialize(value: object) -> bytes:
    return json.dumps(value).encode()


@pytest.fixture
async def producer(servers: Servers) -> AsyncIterator[ArqRedis]:
    """An ARQ producer, as an ARQ user makes one (with JSON, as jobq asks)."""
    redis = await create_pool(
        RedisSettings.from_dsn(servers.redis_url), job_serializer=serialize, job_deserializer=json.loads
    )
    yield redis
    await redis.aclose()


@pytest.fixture
async def cluster(servers: Servers, db: asyncpg.Pool, tmp_path: Path) -> AsyncIterator[Cluster]:
    """ARQ app workers; each must stop cleanly unless the test killed it."""
    c = Cluster(
        servers.database_url,
        servers.redis_url,
        db,
        tmp_path,
        JOBQ_ARQ_SETTINGS=APP,
        JOBQ_WORKER_TIMEOUT_S=str(WORKER_TIMEOUT_S),
        APP_REDIS_URL=servers.redis_url,
    )
    yield c
    codes = c.stop_all()
    assert codes == [0] * len(codes), "a worker did not stop cleanly:\n" + c.logs()


@pytest.fixture
def web() -> Iterator[str]:
    """A real HTTP server on loopback for `download_content` to fetch."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"hello from a real server"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/page"
    server.shutdown()
    server.server_close()


async def test_every_job_of_the_app_ends_as_in_arq_and_is_a_row_jobq_shows(
    cluster: Cluster, producer: ArqRedis, db: asyncpg.Pool, web: str
) -> None:
    await cluster.start_worker()
    download = await producer.enqueue_job("download_content", web)
    added = await producer.enqueue_job("add", 2, 3, times=4)
    flaky = await producer.enqueue_job("flaky", "report")
    signup = await producer.enqueue_job("signup", "ada@example.com")
    assert None not in (download, added, flaky, signup)

    assert await download.result(timeout=20) == len("hello from a real server")  # on_startup's session
    assert await added.result(timeout=20) == 20  # positional and keyword arguments
    assert await signup.result(timeout=20) == {"welcome_job": "welcome:ada@example.com"}
    welcome = Job("welcome:ada@example.com", producer, _deserializer=json.loads)
    assert await welcome.result(timeout=20) == "welcome, ada@example.com"  # enqueued through ctx['redis']
    assert await flaky.result(timeout=20) == "report after 3 tries"  # Retry(defer=1) twice, a try each
    assert await added.status() == JobStatus.complete
    info = await added.result_info()
    assert info is not None and info.success and info.function == "add" and list(info.args) == [2, 3]

    rows = {r["arq"]["id"]: r for r in await db.fetch("SELECT * FROM jobq_jobs WHERE arq IS NOT NULL")}
    for job in (download, added, flaky, signup, welcome):
        row = rows[job.job_id]
        assert row["status"] == "succeeded" and row["queue"] == "arq:queue", row
    assert rows[added.job_id]["payload"] == {"args": [2, 3], "kwargs": {"times": 4}}
    assert rows[added.job_id]["result"] == 20
    assert rows[flaky.job_id]["attempts"] == 3
    # Each Retry(defer=1) waited its second (jobq's own back-off here would be 0.2 s, 0.4 s).
    flaky_row = rows[flaky.job_id]
    assert (flaky_row["finished_at"] - flaky_row["created_at"]).total_seconds() >= 2


async def test_a_failure_is_a_result_arq_reads_and_a_dead_job(cluster: Cluster, producer: ArqRedis) -> None:
    await cluster.start_worker()
    job = await producer.enqueue_job("boom", _job_id="the-boom")
    with pytest.raises(SerializationError, match="ValueError: boom"):
        await job.result(timeout=60)
    assert (await job.info()).function == "boom"  # type: ignore[union-attr]


async def test_status_goes_queued_in_progress_complete_and_a_duplicate_id_is_refused(
    cluster: Cluster, producer: ArqRedis
) -> None:
    job = await producer.enqueue_job("slow", 1.5, _job_id="only-once")
    assert job is not None and await job.status() == JobStatus.queued
    assert await producer.enqueue_job("slow", 1, _job_id="only-once") is None  # queued
    await cluster.start_worker()

    async def in_progress() -> bool:
        return await job.status() == JobStatus.in_progress

    await until(in_progress, timeout_s=15, what="ARQ's status in_progress")
    assert await producer.enqueue_job("slow", 1, _job_id="only-once") is None  # running
    assert await job.result(timeout=20) == "slept"
    assert await job.status() == JobStatus.complete
    assert await producer.enqueue_job("slow", 1, _job_id="only-once") is None  # a kept result
    assert 20_000 < await producer.pttl("arq:result:only-once") <= 30_000  # func(slow, keep_result=30)


async def test_a_job_not_started_by_its_expiry_is_dead_saying_so(
    cluster: Cluster, producer: ArqRedis, db: asyncpg.Pool
) -> None:
    await cluster.start_worker()
    job = await producer.enqueue_job("add", 1, 1, _defer_by=2, _expires=1)
    assert job is not None

    async def dead() -> asyncpg.Record | None:
        return await db.fetchrow("SELECT * FROM jobq_jobs WHERE arq ->> 'id' = $1 AND status = 'dead'", job.job_id)

    row = await until(dead, timeout_s=15, what="the expired job to be dead")
    assert "expired" in row["error"]["message"]
    with pytest.raises(SerializationError, match="expired"):
        await job.result(timeout=10)


async def test_a_deferred_job_is_recorded_at_once_and_runs_at_its_time(
    cluster: Cluster, producer: ArqRedis, db: asyncpg.Pool
) -> None:
    await cluster.start_worker()
    job = await producer.enqueue_job("add", 1, 1, _defer_by=3)
    assert job is not None

    async def recorded() -> asyncpg.Record | None:
        return await db.fetchrow("SELECT * FROM jobq_jobs WHERE arq ->> 'id' = $1", job.job_id)

    row = await until(recorded, timeout_s=5, what="the deferred job's row")
    assert row["status"] == "scheduled"
    assert await job.result(timeout=20) == 2
    row = await recorded()
    assert row is not None and row["started_at"] >= row["run_at"]


async def test_a_pickled_message_becomes_a_dead_job_saying_why(
    cluster: Cluster, servers: Servers, db: asyncpg.Pool
) -> None:
    port = free_port()
    await cluster.start_worker(JOBQ_WORKER_METRICS_PORT=str(port), JOBQ_WORKER_METRICS_HOST="127.0.0.1")
    pickling = await create_pool(RedisSettings.from_dsn(servers.redis_url))  # ARQ's default: pickle
    try:
        assert await pickling.enqueue_job("add", 1, 2, _job_id="pickled") is not None
    finally:
        await pickling.aclose()
    redis = await create_pool(RedisSettings.from_dsn(servers.redis_url), job_serializer=serialize)
    try:
        assert await redis.enqueue_job("no_such_function", _job_id="unknown") is not None
    finally:
        await redis.aclose()

    async def dead() -> list[asyncpg.Record]:
        rows = await db.fetch("SELECT * FROM jobq_jobs WHERE status = 'dead' ORDER BY arq ->> 'id'")
        return rows if len(rows) == 2 else []

    pickled, unknown_row = await until(dead, timeout_s=10, what="two dead jobs")
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert 'jobq_arq_unreadable_total{queue="arq:queue",reason="pickled"} 1.0' in metrics
    assert 'jobq_arq_unreadable_total{queue="arq:queue",reason="unknown_function"} 1.0' in metrics
    assert pickled["arq"]["id"] == "pickled" and "pickled ARQ message refused" in pickled["error"]["message"]
    assert "job_serializer" in pickled["error"]["message"]
    assert unknown_row["type"] == "no_such_function" and "unknown function" in unknown_row["error"]["message"]


async def test_abort_cancels_through_jobq_and_never_a_later_job_with_the_id(
    cluster: Cluster, producer: ArqRedis, db: asyncpg.Pool
) -> None:
    await cluster.start_worker()
    job = await producer.enqueue_job("slow", 30, _job_id="abort-me")
    assert job is not None

    async def running() -> bool:
        return await job.status() == JobStatus.in_progress

    await until(running, timeout_s=15, what="the job to run")
    # ARQ, given JSON, reports the cancellation as a SerializationError carrying its words.
    with pytest.raises(SerializationError, match="cancelled"):
        await job.abort(timeout=15)
    status = await db.fetchval("SELECT status FROM jobq_jobs WHERE arq ->> 'id' = 'abort-me'")
    assert status == "cancelled"

    # An abort left behind (ARQ leaves them: python-arq/arq#485) must not reach a later job
    # that reuses the id: it is older than the job.
    await producer.zadd("arq:abort", {"abort-me": int(time.time() * 1000)})
    await producer.delete("arq:result:abort-me")  # the kept result gone, the id may be reused
    again = await producer.enqueue_job("slow", 0.5, _job_id="abort-me")
    assert again is not None and await again.result(timeout=20) == "slept"


async def test_a_worker_killed_mid_job_has_its_arq_job_run_again_within_jobqs_timeout(
    cluster: Cluster, producer: ArqRedis, db: asyncpg.Pool
) -> None:
    first = await cluster.start_worker()
    await cluster.start_worker()
    job = await producer.enqueue_job("slow", 2, _job_id="survivor")
    assert job is not None

    async def running_on() -> int | None:
        row = await db.fetchrow("SELECT id, status FROM jobq_jobs WHERE arq ->> 'id' = 'survivor'")
        return await cluster.pid_running(str(row["id"])) if row and row["status"] == "running" else None

    pid = await until(running_on, timeout_s=15, what="the job to start")
    cluster.kill(cluster.by_pid(pid))
    # ARQ's own worker would wait job_timeout + 10 s (70 s here) before running it again.
    assert await job.result(timeout=WORKER_TIMEOUT_S + 12) == "slept"
    assert first is not None


async def test_the_cron_job_fires_once_a_second_across_two_workers_and_a_leader_kill(
    cluster: Cluster, db: asyncpg.Pool, servers: Servers
) -> None:
    await cluster.start_worker()
    await cluster.start_worker()
    leader = await cluster.leader_pid()
    await _wait_ticks(db, 3)
    cluster.kill(cluster.by_pid(leader))
    await cluster.leader_pid(timeout_s=15)
    await _wait_ticks(db, 8)

    slots = [
        r["run_at"] for r in await db.fetch("SELECT run_at FROM jobq_jobs WHERE type = 'cron:tick' ORDER BY run_at")
    ]
    assert len(slots) == len(set(slots)), "a slot fired twice"
    gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(slots)}
    assert gaps == {1.0}, f"slots are not one a second apart: {sorted(gaps)}"
    schedule = await db.fetchrow("SELECT * FROM jobq_schedules WHERE name = 'cron:tick'")
    assert schedule is not None and schedule["declared_by"] == "arq:arq:queue"


async def _wait_ticks(db: asyncpg.Pool, count: int) -> None:
    async def ticks() -> bool:
        done = await db.fetchval("SELECT count(*) FROM jobq_jobs WHERE type = 'cron:tick' AND status = 'succeeded'")
        return done >= count

    await until(ticks, timeout_s=30, what=f"{count} ticks")


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ("tests.arq.settings.Pickled", "pickle"),
        ("tests.arq.settings.Msgpackish", "not JSON"),
        ("tests.arq.settings.Nothing", "at least one function"),
        ("tests.arq.no_such_module.WorkerSettings", "cannot import"),
    ],
)
def test_settings_jobq_cannot_honour_stop_the_worker_at_start_naming_why(
    servers: Servers, settings: str, says: str
) -> None:
    env = service_env(servers.database_url, servers.redis_url)
    done = subprocess.run(
        [sys.executable, "-m", "jobq_worker", "--arq", settings],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "JOBQ_ARQ_SETTINGS" in done.stderr and says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


async def test_a_hook_that_raises_is_logged_and_the_worker_goes_on(cluster: Cluster, producer: ArqRedis) -> None:
    worker = await cluster.start_worker(JOBQ_ARQ_SETTINGS="tests.arq.settings.fragile")
    job = await producer.enqueue_job("add", 1, 2)
    assert job is not None and await job.result(timeout=20) == 3
    assert "on_job_start hook" in worker.log()


async def test_api_submitted_jobs_of_an_arq_function_take_args_and_kwargs(
    cluster: Cluster, api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await cluster.start_worker()
    response = await api.post(
        "/v1/jobs", json={"type": "add", "payload": {"args": [4, 5], "kwargs": {"times": 2}}}, headers=auth
    )
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]

    async def done() -> dict | None:
        job = (await api.get(f"/v1/jobs/{job_id}", headers=auth)).json()
        return job if job["status"] == "succeeded" else None

    assert (await until(done, timeout_s=20, what="the job"))["result"] == 18
    refused = await api.post("/v1/jobs", json={"type": "add", "payload": {"argz": []}}, headers=auth)
    assert refused.status_code == 422 and "argz" in refused.text
