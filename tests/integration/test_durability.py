"""What a submit's answer promises, checked against the API run as uvicorn over a real socket.

The in-process client awaits all of a request's work before it returns, so it cannot
tell "stored, then answered" from "answered, then stored". Here the API is a process of
its own: its answer reaches the test while anything it does afterwards is still on the
way. One test kills a durable PostgreSQL under load; the others have the API reach the
session's servers over slow links, so that what it does after answering arrives late.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from jobq_devrun.servers import LOOPBACK, LocalServer, free_port, start_postgres, start_redis

from jobq_core import names
from jobq_core.pg import apikeys
from jobq_core.pg.apikeys import Scope
from jobq_core.pg.db import create_pool
from jobq_core.pg.migrate import migrate_url
from tests.conftest import Servers
from tests.integration.api_helpers import assert_problem, job_count, queued_messages
from tests.support.crash import crash_all
from tests.support.jobtypes import register_builtin_types
from tests.support.processes import Service, service_env, start
from tests.support.wait import until

JOB = {"type": "jobq.noop"}


async def wait_until_ready(url: str) -> None:
    """Wait until the API at `url` answers /readyz with 200."""
    async with httpx.AsyncClient(base_url=url) as client:

        async def ready() -> bool:
            try:
                return (await client.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await until(ready, timeout_s=30, what=f"the API at {url}")


def serve_api(database_url: str, redis_url: str, log: Path, **settings: str) -> tuple[Service, str]:
    """Start the API as a uvicorn process on a loopback port; return it and its URL."""
    port = free_port()
    env = service_env(database_url, redis_url, JOBQ_HOST=LOOPBACK, JOBQ_PORT=str(port), **settings)
    return start("jobq_api", env, log), f"http://{LOOPBACK}:{port}"


# A kill -9 of PostgreSQL

CLIENTS = 4
BATCH = 5
ACCEPTED_BEFORE_KILL = 150
DURABILITY_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes")


@dataclass
class DurableStack:
    """A durable PostgreSQL and a Redis of the test's own, and the API on them as a process."""

    postgres: LocalServer
    redis: LocalServer
    api: Service
    url: str
    key: str


async def prepared(url: str) -> str:
    """Migrate the database at `url`, register the built-in job types; return an admin key."""
    await migrate_url(url)
    pool = await create_pool(url, size=1)
    try:
        await register_builtin_types(pool)
        return await apikeys.create(pool, "durability test", [Scope.ADMIN])
    finally:
        await pool.close()


@pytest.fixture
async def durable_stack() -> AsyncIterator[DurableStack]:
    """A durable PostgreSQL and a Redis of the test's own, and the API process on them.

    Their data lives outside pytest's temporary folders: a pytest starting meanwhile makes
    those unreadable to PostgreSQL's user again, and the restart after the crash reads them.
    """
    with tempfile.TemporaryDirectory(prefix="jobq-durability-") as tmp:
        pg = start_postgres(Path(tmp) / "pg", durable=True)
        rd = start_redis(Path(tmp) / "redis", durable=False)
        stack: DurableStack | None = None
        try:
            key = await prepared(pg.url)
            # Keys are remembered for a minute, so submits reach the insert while PostgreSQL is down.
            api, url = serve_api(pg.url, rd.url, Path(tmp) / "api.log", JOBQ_API_KEY_CACHE_S="60")
            stack = DurableStack(pg, rd, api, url, key)
            await wait_until_ready(url)
            yield stack
        finally:
            code = stack.api.stop() if stack else None
            rd.stop()
            pg.stop()
            if stack:
                stack.postgres.stop()  # the server the test restarted
        assert stack and code == 0, f"the API exited {code}:\n{stack.api.log()[-3000:] if stack else ''}"


async def durability_settings(url: str) -> dict[str, str]:
    """The values of PostgreSQL's settings that make a commit survive a crash."""
    conn = await asyncpg.connect(url)
    try:
        return {name: await conn.fetchval(f"SHOW {name}") for name in DURABILITY_SETTINGS}
    finally:
        await conn.close()


@dataclass
class Submits:
    """What concurrent submitters were answered, split at the moment PostgreSQL was killed."""

    accepted: list[str] = field(default_factory=list, repr=False)
    before: Counter[str] = field(default_factory=Counter)
    after: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    in_flight_at_kill: int = 0
    killed: bool = False

    def answered(self, outcome: str) -> None:
        """Count one answer: a status code, or the transport error that came instead."""
        (self.after if self.killed else self.before)[outcome] += 1

    def refused_after_kill(self) -> int:
        """How many submits were answered after the kill with anything but 201."""
        return sum(n for outcome, n in self.after.items() if outcome != "201")


async def submit_until(client: httpx.AsyncClient, seen: Submits, stop: asyncio.Event) -> None:
    """Submit one job, one job, a batch, and again, until `stop`; record every answer."""
    for n in itertools.count():
        if stop.is_set():
            return
        batch = n % 3 == 2
        seen.in_flight += 1
        try:
            if batch:
                response = await client.post("/v1/jobs/batch", json={"jobs": [JOB] * BATCH})
            else:
                response = await client.post("/v1/jobs", json=JOB)
        except httpx.TransportError as exc:
            seen.answered(type(exc).__name__)
            continue
        finally:
            seen.in_flight -= 1
        seen.answered(str(response.status_code))
        if response.status_code == 201:
            body = response.json()
            seen.accepted += [job["id"] for job in body["jobs"]] if batch else [body["id"]]


async def stored_ids(url: str, ids: list[str]) -> set[str]:
    """Which of `ids` are rows of jobq_jobs, read on a new connection."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT id::text FROM jobq_jobs WHERE id = ANY($1::uuid[])", ids)
    finally:
        await conn.close()
    return {row["id"] for row in rows}


async def test_a_kill_9_of_durable_postgres_under_load_loses_no_job_answered_201(
    durable_stack: DurableStack,
) -> None:
    """Every job answered 201, singly or in a batch, is a row after PostgreSQL is killed
    mid-load and recovers from its WAL; while it is gone the API answers 503, never 500."""
    stack = durable_stack
    assert await durability_settings(stack.postgres.url) == dict.fromkeys(DURABILITY_SETTINGS, "on")
    seen, stop = Submits(), asyncio.Event()
    headers = {"Authorization": f"Bearer {stack.key}"}
    async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=10) as client:
        load = asyncio.gather(*(submit_until(client, seen, stop) for _ in range(CLIENTS)))
        try:

            async def loaded() -> bool:
                return len(seen.accepted) >= ACCEPTED_BEFORE_KILL and seen.in_flight >= 2

            await until(loaded, timeout_s=30, what="accepted submits with more in flight")
            seen.in_flight_at_kill, seen.killed = seen.in_flight, True
            killed = await crash_all(stack.postgres)

            async def refused() -> bool:
                return seen.refused_after_kill() > 0

            await until(refused, timeout_s=30, what="a submit refused after the kill")
        finally:
            stop.set()
            async with asyncio.timeout(30):
                await load
    log_size = (stack.postgres.data_dir / "server.log").stat().st_size
    stack.postgres = start_postgres(stack.postgres.data_dir, port=stack.postgres.port, durable=True)

    outcomes = set(seen.before) | set(seen.after)
    assert "500" not in outcomes and {o for o in outcomes if o.isdigit()} <= {"201", "503"}, seen
    assert seen.before["201"] > 0 and seen.in_flight_at_kill >= 2 and seen.refused_after_kill() > 0, seen
    assert len(killed) > 5, f"only {killed} were PostgreSQL's processes"
    recovery = (stack.postgres.data_dir / "server.log").read_bytes()[log_size:].decode(errors="replace")
    assert "redo starts at" in recovery, f"PostgreSQL did not recover from its WAL:\n{recovery}"
    assert await durability_settings(stack.postgres.url) == dict.fromkeys(DURABILITY_SETTINGS, "on")
    missing = set(seen.accepted) - await stored_ids(stack.postgres.url, seen.accepted)
    assert not missing, f"{len(missing)} of {len(seen.accepted)} jobs answered 201 are lost: {sorted(missing)[:10]}"
    assert len(set(seen.accepted)) == len(seen.accepted)
    assert stack.api.process.poll() is None, "the API exited:\n" + stack.api.log()[-3000:]
    await wait_until_ready(stack.url)


# Submit guarantees over a socket

# What the API sends PostgreSQL and Redis arrives this late; its answers are not delayed.
LINK_DELAY_S = 0.2


class SlowLink:
    """A TCP proxy to a loopback `port` that delivers what its clients send `delay_s` late, in order.

    The API reaches PostgreSQL and Redis through one each: whatever it sends after it has
    answered reaches the server well after the test looked, so a look on the answer sees
    only what the API waited for.
    """

    def __init__(self, port: int, delay_s: float) -> None:
        self.target, self.delay_s, self.port = port, delay_s, 0
        self._server: asyncio.Server | None = None
        self._open: dict[asyncio.Task[Any], list[asyncio.StreamWriter]] = {}

    async def start(self) -> SlowLink:
        self._server = await asyncio.start_server(self._serve, LOOPBACK, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def url(self, url: str) -> str:
        """`url` of the server behind the link, pointed at the link."""
        return url.replace(f":{self.target}/", f":{self.port}/")

    async def close(self) -> None:
        """Stop listening, cut the connections still open and wait until they are done."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for writers in self._open.values():
            for writer in writers:
                writer.close()
        await asyncio.gather(*self._open, return_exceptions=True)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        try:
            server_r, server_w = await asyncio.open_connection(LOOPBACK, self.target)
        except OSError:
            client_w.close()
            return
        self._open[task] = [client_w, server_w]
        try:
            await asyncio.gather(_pipe(client_r, server_w, self.delay_s), _pipe(server_r, client_w, 0.0))
        finally:
            del self._open[task]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float) -> None:
    """Copy `reader` to `writer`, each chunk `delay_s` after it was read; close `writer` at the end."""
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while (chunk := await chunks.get())[1]:
            await asyncio.sleep(chunk[0] - loop.time())  # the link's latency, not a wait for some state
            writer.write(chunk[1])
            await writer.drain()

    delivering = asyncio.create_task(deliver())
    try:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(1 << 16):
                chunks.put_nowait((loop.time() + delay_s, data))
            chunks.put_nowait((0.0, b""))
            await delivering
    finally:
        delivering.cancel()
        writer.close()


@pytest.fixture(scope="module")
async def api_over_slow_links(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """The URL of the API as a process on the session's servers, reaching both over slow links."""
    pg_link = await SlowLink(servers.postgres.port, LINK_DELAY_S).start()
    redis_link = await SlowLink(servers.redis.port, LINK_DELAY_S).start()
    api, url = serve_api(
        pg_link.url(servers.database_url),
        redis_link.url(servers.redis_url),
        tmp_path_factory.mktemp("api") / "api.log",
        JOBQ_API_KEY_CACHE_S="0",
        JOBQ_MAX_PAYLOAD_BYTES="4096",
    )
    try:
        await wait_until_ready(url)
        async with httpx.AsyncClient(base_url=url) as client:
            started = time.monotonic()
            assert (await client.get("/readyz")).status_code == 200
            assert time.monotonic() - started >= LINK_DELAY_S, "the links are not slow"
        yield url
    finally:
        code = await asyncio.to_thread(api.stop)  # the links run on this loop while the API shuts down
        await pg_link.close()
        await redis_link.close()
    assert code == 0, f"the API exited {code}:\n{api.log()[-3000:]}"


@pytest.fixture
async def client(api_over_slow_links: str, db: asyncpg.Pool, builtin_types: None) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the API process, authenticated as admin, on emptied stores."""
    headers = {"Authorization": f"Bearer {await apikeys.create(db, 'socket test', [Scope.ADMIN])}"}
    async with httpx.AsyncClient(base_url=api_over_slow_links, headers=headers, timeout=30) as http:
        yield http


async def statuses(db: asyncpg.Pool, ids: list[str]) -> dict[str, str]:
    """The status of each of `ids` that is a committed row."""
    rows = await db.fetch("SELECT id::text, status FROM jobq_jobs WHERE id = ANY($1::uuid[])", ids)
    return {row["id"]: row["status"] for row in rows}


async def dispatched(redis_client: aioredis.Redis, ids: list[str]) -> list[str]:
    """Which of `ids` have their first attempt's message in Redis: its job key and its queue entry."""
    found = []
    for job_id in ids:
        arq_id = names.arq_job_id(job_id, 1)
        key = await redis_client.exists(names.ARQ_JOB_PREFIX + arq_id)
        entry = await redis_client.zscore(names.redis_queue_key(names.DEFAULT_QUEUE), arq_id)
        if key and entry is not None:
            found.append(job_id)
    return found


async def assert_only_stored(db: asyncpg.Pool, redis_client: aioredis.Redis, ids: list[str]) -> None:
    """PostgreSQL holds exactly the jobs `ids` and Redis exactly their first attempts' messages."""
    assert await job_count(db) == len(ids)
    assert set(await statuses(db, ids)) == set(ids)
    expected = {names.arq_job_id(job_id, 1) for job_id in ids}
    assert set(await queued_messages(redis_client)) == expected
    arq_keys = {key.decode().removeprefix(names.ARQ_JOB_PREFIX) for key in await redis_client.keys("arq:job:*")}
    assert arq_keys == expected


async def settled(client: httpx.AsyncClient) -> str:
    """Submit one more job and return its id once answered.

    Its statements follow, over the same slow links, anything the API sent before;
    after its answer, what an earlier request stored late has arrived.
    """
    response = await client.post("/v1/jobs", json=JOB)
    assert response.status_code == 201, response.text
    job_id: str = response.json()["id"]
    return job_id


@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
async def test_the_row_is_committed_and_the_message_is_in_redis_when_the_201_arrives(
    client: httpx.AsyncClient, db: asyncpg.Pool, redis_client: aioredis.Redis, batch: bool
) -> None:
    """On the 201, another connection reads each job queued and Redis holds its message."""
    if batch:
        response = await client.post("/v1/jobs/batch", json={"jobs": [JOB] * 3})
    else:
        response = await client.post("/v1/jobs", json=JOB)

    assert response.status_code == 201, response.text
    body = response.json()
    ids = [job["id"] for job in body["jobs"]] if batch else [body["id"]]
    # Both looks leave at once, and before anything else the test awaits.
    rows, messages = await asyncio.gather(statuses(db, ids), dispatched(redis_client, ids))
    assert rows == dict.fromkeys(ids, "queued")
    assert messages == ids


async def test_a_repeated_idempotency_key_header_is_200_with_the_first_job_and_stores_nothing_more(
    client: httpx.AsyncClient, db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    """The repeat answers 200 with the first job; no second row or message arrives, even late."""
    headers = {names.IDEMPOTENCY_HEADER: "order-7"}
    first = await client.post("/v1/jobs", json=JOB, headers=headers)
    again = await client.post("/v1/jobs", json=JOB, headers=headers)

    assert (first.status_code, again.status_code) == (201, 200), again.text
    job_id = first.json()["id"]
    assert again.json()["id"] == job_id
    assert again.json()["idempotency_key"] == "order-7"
    assert again.headers["location"] == f"/v1/jobs/{job_id}"
    await assert_only_stored(db, redis_client, [job_id, await settled(client)])


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/v1/jobs", {"type": "no.such.type"}, 422, "type"),
        ("/v1/jobs", {"type": "jobq.sleep", "payload": {"seconds": "x"}}, 422, "payload.seconds"),
        ("/v1/jobs", {"type": "jobq.noop", "priority": 1000}, 422, "priority"),
        ("/v1/jobs", {"type": "jobq.noop", "payload": {"blob": "x" * 5000}}, 413, "payload"),
        ("/v1/jobs/batch", {"jobs": [JOB, {"type": "jobq.sleep", "payload": {}}]}, 422, "jobs[1].payload.seconds"),
    ],
    ids=["unknown-type", "bad-payload", "bad-field", "payload-too-large", "bad-batch-member"],
)
async def test_bad_input_is_a_problem_naming_the_field_and_nothing_is_stored(
    client: httpx.AsyncClient,
    db: asyncpg.Pool,
    redis_client: aioredis.Redis,
    path: str,
    body: dict[str, Any],
    status: int,
    field: str,
) -> None:
    """A refused submit is an application/problem+json naming the field; no row or message arrives, even late."""
    response = await client.post(path, json=body)

    assert_problem(response, status, field)
    await assert_only_stored(db, redis_client, [await settled(client)])
