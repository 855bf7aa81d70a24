"""`GET /v1/events` against the API run as uvicorn and real workers: what a dashboard sees.

Events arrive within 2 s of the change they tell; a client resumes with Last-Event-ID or
is told to reset; twenty idle streams cost PostgreSQL one statement a second in all; a
client that stops reading holds up no one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import signal
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from jobq_devrun.servers import LOOPBACK, free_port, start_postgres, start_redis

from jobq_core.pg import apikeys
from jobq_core.pg.apikeys import Scope
from jobq_core.pg.db import Q, create_pool
from jobq_core.pg.migrate import migrate_url
from tests.conftest import Servers
from tests.integration.conftest import StartWorker
from tests.support.jobtypes import register_builtin_types
from tests.support.processes import Service, service_env, start
from tests.support.sse import Event, EventReader, read_events
from tests.support.wait import until

# An event is due within this long of the change it tells (one look a second, plus its way).
DUE_S = 2.0


@dataclass
class Api:
    """The API as a uvicorn process, and how to call it."""

    service: Service
    url: str
    headers: dict[str, str]

    async def post(self, path: str, json: Any = None) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, headers=self.headers, timeout=30) as client:
            return await client.post(path, json=json)

    async def get(self, path: str) -> Any:
        async with httpx.AsyncClient(base_url=self.url, headers=self.headers, timeout=30) as client:
            response = await client.get(path)
            assert response.status_code == 200, response.text
            return response.json()


def serve(database_url: str, redis_url: str, log: Path, **settings: str) -> tuple[Service, str]:
    """Start the API on a loopback port."""
    port = free_port()
    env = service_env(database_url, redis_url, JOBQ_HOST=LOOPBACK, JOBQ_PORT=str(port), **settings)
    return start("jobq_api", env, log), f"http://{LOOPBACK}:{port}"


async def ready(url: str) -> None:
    """Wait until the API at `url` is ready."""
    async with httpx.AsyncClient(base_url=url) as client:

        async def probe() -> bool:
            try:
                return (await client.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await until(probe, timeout_s=30, what=f"the API at {url}")


def stop_cleanly(service: Service) -> None:
    """SIGTERM with streams open: the API ends them and exits 0, promptly."""
    started = time.monotonic()
    code = service.stop(signal.SIGTERM, timeout_s=15)
    assert code == 0, f"the API exited {code}:\n{service.log()[-3000:]}"
    assert time.monotonic() - started < 10, "the API took long to stop with streams open"


@pytest.fixture
async def api(servers: Servers, db: asyncpg.Pool, builtin_types: None, admin_key: str, tmp_path: Path) -> Any:
    service, url = serve(servers.database_url, servers.redis_url, tmp_path / "api.log")
    try:
        await ready(url)
        yield Api(service, url, {"Authorization": f"Bearer {admin_key}"})
    finally:
        stop_cleanly(service)


def at(value: str) -> float:
    """An API timestamp as Unix time."""
    return datetime.fromisoformat(value).timestamp()


def is_job(job_id: str, **fields: Any) -> Any:
    """A predicate: a `job` event about `job_id` whose data has `fields`."""
    return lambda e: e.event == "job" and e.data["id"] == job_id and all(e.data[k] == v for k, v in fields.items())


# --- the stream itself --------------------------------------------------------------------


async def test_the_stream_is_unbuffered_event_stream_that_starts_with_a_retry(api: Api) -> None:
    headers = {**api.headers, "Accept-Encoding": "gzip"}
    async with read_events(api.url, headers) as stream:
        await stream.wait_for(lambda e: e.event == "queues", what="the first queues event")
        assert stream.response is not None
        assert stream.response.status_code == 200
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        assert stream.response.headers["cache-control"] == "no-cache"
        assert stream.response.headers["x-accel-buffering"] == "no"
        assert "content-encoding" not in stream.response.headers
        assert stream.retry_ms == 2000


async def test_sigterm_ends_open_streams_and_the_api_exits_0_promptly(
    servers: Servers, db: asyncpg.Pool, builtin_types: None, admin_key: str, tmp_path: Path
) -> None:
    service, url = serve(servers.database_url, servers.redis_url, tmp_path / "api.log")
    try:
        await ready(url)
        async with read_events(url, {"Authorization": f"Bearer {admin_key}"}) as stream:
            await stream.wait_for(lambda e: e.event == "queues", what="the first queues event")
            await asyncio.to_thread(stop_cleanly, service)  # uvicorn alone would wait for the stream forever
    finally:
        service.stop(signal.SIGKILL)


async def test_without_a_key_the_stream_is_401_and_a_key_in_the_url_is_not_taken(api: Api, admin_key: str) -> None:
    async with httpx.AsyncClient(base_url=api.url) as client:
        bare = await client.get("/v1/events")
        in_query = await client.get("/v1/events", params={"key": admin_key, "access_token": admin_key})
        wrong = await client.get("/v1/events", headers={"Authorization": "Bearer jobq_nope"})

    assert [bare.status_code, in_query.status_code, wrong.status_code] == [401, 401, 401]
    assert bare.headers["content-type"] == "application/problem+json"


async def test_a_key_without_jobs_read_is_403(api: Api, db: asyncpg.Pool) -> None:
    key = await apikeys.create(db, "no scopes", [])
    async with httpx.AsyncClient(base_url=api.url) as client:
        response = await client.get("/v1/events", headers={"Authorization": f"Bearer {key}"})

    assert response.status_code == 403


async def test_the_openapi_document_declares_the_stream_and_its_event_types(api: Api) -> None:
    document = await api.get("/openapi.json")

    content = document["paths"]["/v1/events"]["get"]["responses"]["200"]["content"]
    assert list(content) == ["text/event-stream"]
    refs = {one["$ref"].rpartition("/")[2] for one in content["text/event-stream"]["schema"]["oneOf"]}
    assert refs == {"JobEvent", "QueuesEvent", "WorkersEvent", "ResetEvent", "UnavailableEvent"}
    schemas = document["components"]["schemas"]
    assert set(schemas["JobEventData"]["properties"]) >= {
        "id",
        "status",
        "attempts",
        "max_attempts",
        "queue",
        "type",
        "progress",
        "progress_message",
        "run_at",
        "finished_at",
    }


# --- what the events tell -----------------------------------------------------------------


async def test_a_jobs_events_arrive_queued_then_running_then_succeeded_each_within_2s(
    api: Api, db: asyncpg.Pool, start_worker: StartWorker
) -> None:
    async with read_events(api.url, api.headers) as stream:
        await stream.wait_for(lambda e: e.event == "workers", what="the first look")
        job = (await api.post("/v1/jobs", {"type": "jobq.sleep", "payload": {"seconds": 1.5, "steps": 3}})).json()
        queued = await stream.wait_for(is_job(job["id"], status="queued"), what="queued")
        assert queued.at - at(job["created_at"]) < DUE_S
        assert queued.data == {k: job[k] for k in queued.data}  # the job's own fields, as GET gives them

        await start_worker()
        running = await stream.wait_for(is_job(job["id"], status="running"), what="running")
        succeeded = await stream.wait_for(is_job(job["id"], status="succeeded"), what="succeeded")

    row = await db.fetchrow("SELECT started_at, finished_at FROM jobq_jobs WHERE id = $1::uuid", job["id"])
    assert running.at - row["started_at"].timestamp() < DUE_S
    assert running.data["attempts"] == 1
    assert succeeded.at - row["finished_at"].timestamp() < DUE_S
    assert succeeded.data["finished_at"] is not None and succeeded.data["progress"] == 1
    statuses = [d["status"] for d in stream.jobs(job["id"])]
    assert statuses == sorted(statuses, key=["queued", "running", "succeeded"].index), statuses
    ids = [e.seq for e in stream.events]
    assert ids == sorted(set(ids)), "event ids are not increasing"


async def test_progress_arrives_as_job_events_while_the_job_runs(api: Api, start_worker: StartWorker) -> None:
    await start_worker()
    async with read_events(api.url, api.headers) as stream:
        job = (await api.post("/v1/jobs", {"type": "jobq.sleep", "payload": {"seconds": 4, "steps": 4}})).json()
        await stream.wait_for(is_job(job["id"], status="succeeded"), timeout_s=20, what="succeeded")

    running = [d for d in stream.jobs(job["id"]) if d["status"] == "running"]
    progress = [d["progress"] for d in running if d["progress"] is not None]
    assert len(progress) >= 2, running  # a step a second, a look a second
    assert progress == sorted(progress) and 0 < progress[0] < 1
    assert any(d["progress_message"] and d["progress_message"].startswith("slept ") for d in running)


async def test_cancelling_and_retrying_by_the_api_show_as_events(api: Api) -> None:
    async with read_events(api.url, api.headers) as stream:
        job = (await api.post("/v1/jobs", {"type": "jobq.noop", "delay_s": 600})).json()
        await stream.wait_for(is_job(job["id"], status="scheduled"), what="scheduled")

        cancelled_at = time.time()
        assert (await api.post(f"/v1/jobs/{job['id']}/cancel")).status_code == 200
        cancelled = await stream.wait_for(is_job(job["id"], status="cancelled"), what="cancelled")
        retried_at = time.time()
        assert (await api.post(f"/v1/jobs/{job['id']}/retry")).status_code == 200
        queued = await stream.wait_for(is_job(job["id"], status="queued"), what="queued after the retry")

    assert cancelled.at - cancelled_at < DUE_S and cancelled.data["finished_at"] is not None
    assert queued.at - retried_at < DUE_S and queued.data["finished_at"] is None


async def test_a_dead_job_retried_by_hand_shows_queued(api: Api, start_worker: StartWorker) -> None:
    async with read_events(api.url, api.headers) as stream:
        worker = await start_worker()
        job = (await api.post("/v1/jobs", {"type": "jobq.fail", "max_attempts": 1})).json()
        await stream.wait_for(is_job(job["id"], status="dead"), what="dead")
        assert worker.stop() == 0  # nothing takes the retry: it stays queued

        assert (await api.post(f"/v1/jobs/{job['id']}/retry")).status_code == 200
        queued = await stream.wait_for(is_job(job["id"], status="queued"), what="queued after the retry")

    assert queued.data["max_attempts"] == 2 and queued.data["attempts"] == 1


async def test_queues_and_workers_events_are_what_the_list_endpoints_give(api: Api, start_worker: StartWorker) -> None:
    def without_heartbeats(body: dict[str, Any]) -> list[dict[str, Any]]:
        return [{k: v for k, v in w.items() if k != "heartbeat_at"} for w in body["workers"]]

    async with read_events(api.url, api.headers) as stream:
        await start_worker()
        job = (await api.post("/v1/jobs", {"type": "jobq.noop"})).json()
        await stream.wait_for(is_job(job["id"], status="succeeded"), what="succeeded")

        async def queues_agree() -> bool:
            sent = stream.of("queues")
            return bool(sent) and sent[-1].data == await api.get("/v1/queues")

        async def workers_agree() -> bool:
            sent = stream.of("workers")
            return bool(sent) and without_heartbeats(sent[-1].data) == without_heartbeats(await api.get("/v1/workers"))

        await until(queues_agree, what="the last queues event to be GET /v1/queues")
        await until(workers_agree, what="the last workers event to be GET /v1/workers")

    sent = [without_heartbeats(e.data) for e in stream.of("workers")]
    assert all(a != b for a, b in itertools.pairwise(sent)), "a workers event told only a heartbeat"
    assert any(q["name"] == "default" for q in stream.of("queues")[-1].data["queues"])


# --- resuming -----------------------------------------------------------------------------


async def test_resuming_with_last_event_id_gets_exactly_the_missed_events(api: Api) -> None:
    async with read_events(api.url, api.headers) as watcher:
        async with read_events(api.url, api.headers) as first:
            one = (await api.post("/v1/jobs", {"type": "jobq.noop", "delay_s": 600})).json()
            await first.wait_for(is_job(one["id"]), what="the first job")
            await watcher.wait_for(is_job(one["id"]), what="the first job")
        last_seen = first.events[-1]

        missed_jobs = [(await api.post("/v1/jobs", {"type": "jobq.noop", "delay_s": 600})).json() for _ in range(3)]
        await api.post(f"/v1/jobs/{missed_jobs[0]['id']}/cancel")
        await watcher.wait_for(is_job(missed_jobs[0]["id"], status="cancelled"), what="the cancel")

        async with read_events(api.url, api.headers, last_event_id=last_seen.id) as resumed:
            later = (await api.post("/v1/jobs", {"type": "jobq.noop", "delay_s": 600})).json()
            await resumed.wait_for(is_job(later["id"]), what="a job after the resume")
            end = await watcher.wait_for(is_job(later["id"]), what="a job after the resume")

    expected = [e for e in watcher.events if last_seen.seq < e.seq <= end.seq]
    got = [e for e in resumed.events if e.seq <= end.seq]
    assert [(e.id, e.event, e.data) for e in got] == [(e.id, e.event, e.data) for e in expected]
    assert {j["id"] for j in missed_jobs} <= {e.data["id"] for e in got if e.event == "job"}
    assert not resumed.of("reset")


async def test_an_id_from_before_a_restart_or_never_sent_gets_reset(api: Api, servers: Servers, tmp_path: Path) -> None:
    async with read_events(api.url, api.headers) as before:
        await before.wait_for(lambda e: e.event == "queues", what="an event")
    old_id = before.events[-1].id
    assert old_id is not None

    restarted, url = serve(servers.database_url, servers.redis_url, tmp_path / "api-2.log")
    try:
        await ready(url)

        async def reset_for(stale: str) -> Event:
            async with read_events(url, api.headers, last_event_id=stale) as stream:
                reset = await stream.wait_for(lambda e: e.event == "reset", what=f"a reset for {stale}")
            assert stream.events[0] is reset, "the reset is not the first event"
            assert reset.data == {"reason": "unknown_id"}
            return reset

        reset = await reset_for(old_id)
        assert reset.id is not None and reset.id.rpartition("-")[0] != old_id.rpartition("-")[0]
        await reset_for("nonsense")
        run, _, seq = reset.id.rpartition("-")
        await reset_for(f"{run}-{int(seq) + 1000}")  # this process's run, an event never sent

        # The reset's id is where the stream is: resuming from it is no reset.
        async with read_events(url, api.headers, last_event_id=reset.id) as stream:
            job = (await api.post("/v1/jobs", {"type": "jobq.noop", "delay_s": 600})).json()
            await stream.wait_for(is_job(job["id"]), what="the next job")
        assert not stream.of("reset")
    finally:
        stop_cleanly(restarted)


# --- the cost, and slow clients -------------------------------------------------------------


async def test_every_part_of_a_look_reads_jobs_and_attempts_through_an_index(db: asyncpg.Pool) -> None:
    """With sequential scans priced out, a part without an index would still show one:
    at millions of jobs each would read the whole table every second."""
    since = datetime.now(UTC) - timedelta(seconds=3)
    running = [uuid.uuid4()]
    async with db.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        for count_queues in (False, True):
            plan = await conn.fetchval(
                "EXPLAIN (FORMAT JSON) " + Q["events_tick"], since, running, [1], [0.5], ["m"], count_queues, 30.0, 100
            )
            nodes = _plan_nodes(orjson.loads(plan)[0]["Plan"])
            scans = {(node["Node Type"], node.get("Relation Name")) for node in nodes}
            assert not {s for s in scans if s[0] == "Seq Scan" and s[1] in ("jobq_jobs", "jobq_job_attempts")}, scans


def _plan_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for child in node.get("Plans", []) for n in _plan_nodes(child))]


STATEMENT = re.compile(r"LOG:  (statement|execute [^:]*): ")


async def test_twenty_idle_streams_cost_postgres_at_most_one_statement_a_second(tmp_path: Path) -> None:
    """Counted from PostgreSQL's own statement log (log_statement = all), on a server of
    the test's own: every statement any client ran, whoever sent it."""
    pg = start_postgres(tmp_path / "pg", durable=False)
    rd = start_redis(tmp_path / "redis", durable=False)
    service: Service | None = None
    try:
        await migrate_url(pg.url)
        pool = await create_pool(pg.url, size=1)
        key = await apikeys.create(pool, "events", [Scope.JOBS_READ])
        await register_builtin_types(pool)
        await pool.execute("ALTER SYSTEM SET log_statement = 'all'")
        await pool.execute("SELECT pg_reload_conf()")
        await pool.close()
        service, url = serve(pg.url, rd.url, tmp_path / "api.log")
        await ready(url)
        headers = {"Authorization": f"Bearer {key}"}
        async with contextlib.AsyncExitStack() as streams:
            readers = [await streams.enter_async_context(read_events(url, headers)) for _ in range(20)]
            await until(lambda: _all_got_retry(readers), what="20 open streams")
            await asyncio.sleep(2)  # the measurement starts after the streams' own requests
            log = pg.data_dir / "server.log"
            start_offset = log.stat().st_size
            started = time.monotonic()
            await asyncio.sleep(16)  # the window measured: longer than a keep-alive period
            window_s = time.monotonic() - started
            text = log.read_bytes()[start_offset:].decode(errors="replace")
        statements = [line for line in text.splitlines() if STATEMENT.search(line)]
        rate = len(statements) / window_s
        print(f"\n20 idle streams: {len(statements)} statements in {window_s:.1f} s = {rate:.2f}/s")
        assert len(statements) <= window_s + 2, "\n".join(statements)
        assert all(any(c == "keep-alive" for c, _ in r.comments) for r in readers), "a stream got no keep-alive"
        assert all(not r.of("reset") for r in readers)
    finally:
        if service is not None:
            stop_cleanly(service)
        rd.stop()
        pg.stop()


async def _all_got_retry(readers: list[EventReader]) -> bool:
    return all(r.retry_ms is not None for r in readers)


async def _stalled_stream(url: str, headers: dict[str, str]) -> socket.socket:
    """A stream whose client sends the request and then reads nothing, with a small window."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    host, port = url.removeprefix("http://").split(":")
    sock.connect((host, int(port)))
    lines = ["GET /v1/events HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    sock.sendall("\r\n".join(lines).encode())
    return sock


def _read_until(sock: socket.socket, marker: bytes, timeout_s: float) -> bytes:
    sock.settimeout(1)
    got = b""
    deadline = time.monotonic() + timeout_s
    while marker not in got and time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            got += chunk
            got = got[-(1 << 16) :] if marker not in got else got
    return got


async def test_a_client_that_stops_reading_holds_up_no_one_and_is_reset(api: Api) -> None:
    stalled = await _stalled_stream(api.url, api.headers)
    try:
        # 2.3 kB an event. The kernel takes about 3 MB for a client that reads nothing, and
        # uvicorn one more write; past those, the stream's 1,000 waiting events overflow.
        tags = [f"{n:02d}-" + "x" * 97 for n in range(20)]
        async with read_events(api.url, api.headers) as reader:
            for _ in range(6):
                batch = {"jobs": [{"type": "jobq.noop", "delay_s": 600, "tags": tags} for _ in range(900)]}
                response = await api.post("/v1/jobs/batch", batch)
                assert response.status_code == 201, response.text
                batch_ids = {j["id"] for j in response.json()["jobs"]}
                submitted = time.time()

                async def all_arrived(batch_ids: set[str] = batch_ids) -> bool:
                    assert not reader.of("reset"), "the reading stream was reset"
                    return batch_ids <= {e.data["id"] for e in reader.of("job")}

                await until(all_arrived, what="the batch's job events")
                assert time.time() - submitted < DUE_S + 1, "the reading stream was held up"
        got = await asyncio.to_thread(_read_until, stalled, b'"reason":"behind"', 30)
        assert b"event: reset" in got and b'"reason":"behind"' in got
    finally:
        stalled.close()
