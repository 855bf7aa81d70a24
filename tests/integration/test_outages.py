"""PostgreSQL or Redis stopped for 5 s under load: no process exits, no job is lost, and
the API answers 503 (never 500) while the server is gone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest
from jobq_devrun.servers import LocalServer, free_port, start_postgres, start_redis

from jobq_core.pg import apikeys
from jobq_core.pg.migrate import migrate_url
from tests.support.cluster import Cluster
from tests.support.handlers import SIDE_EFFECTS_DDL
from tests.support.processes import Service, service_env, start
from tests.support.wait import until

OUTAGE_S = 5.0
LOAD_S = 14.0
SUBMIT_EVERY_S = 0.05


@dataclass
class Stack:
    """Its own PostgreSQL and Redis, the API as a process, two workers."""

    postgres: LocalServer
    redis: LocalServer
    api: Service
    api_url: str
    key: str
    cluster: Cluster
    pool: asyncpg.Pool


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    pg = start_postgres(tmp_path / "pg", durable=False)
    rd = start_redis(tmp_path / "redis", durable=False)
    await migrate_url(pg.url)
    # The pool that checks results reconnects after the outage like any client would.
    pool = await asyncpg.create_pool(pg.url, min_size=0, max_size=4)
    await pool.execute(SIDE_EFFECTS_DDL)
    key = await apikeys.create(pool, "outage test", [apikeys.Scope.ADMIN])
    port = free_port()
    api = start(
        "jobq_api",
        service_env(pg.url, rd.url, JOBQ_HOST="127.0.0.1", JOBQ_PORT=str(port), JOBQ_API_KEY_CACHE_S="60"),
        tmp_path / "api.log",
    )
    cluster = Cluster(pg.url, rd.url, pool, tmp_path, JOBQ_WORKER_TIMEOUT_S="10")
    stack = Stack(pg, rd, api, f"http://127.0.0.1:{port}", key, cluster, pool)
    try:
        await cluster.start_worker()
        await cluster.start_worker()
        async with httpx.AsyncClient(base_url=stack.api_url) as client:

            async def ready() -> bool:
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await until(ready, timeout_s=20, what="the API")
        yield stack
    finally:
        codes = [*cluster.stop_all(), api.stop()]
        await pool.close()
        stack.redis.stop()  # the servers a test restarted, not the first ones
        stack.postgres.stop()
    assert codes == [0, 0, 0], f"exit codes {codes} (workers, API):\n" + cluster.logs() + api.log()[-3000:]


@dataclass
class Load:
    """What a steady stream of submits saw."""

    accepted: list[str] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    retry_after: set[str] = field(default_factory=set)
    ready_codes: set[int] = field(default_factory=set)


async def steady_load(stack: Stack, outage: Callable[[], None], recover: Callable[[], None]) -> Load:
    """Submit a job every 50 ms for 14 s; the server goes away at 3 s and is back at 8 s."""
    load = Load()
    headers = {"Authorization": f"Bearer {stack.key}"}
    started = time.monotonic()
    phase = "before"
    async with httpx.AsyncClient(base_url=stack.api_url, headers=headers, timeout=10) as client:
        while (elapsed := time.monotonic() - started) < LOAD_S:
            if phase == "before" and elapsed >= 3:
                outage()  # in this thread: a server dies with the thread that started it
                phase = "down"
            elif phase == "down" and elapsed >= 3 + OUTAGE_S:
                recover()
                phase = "after"
            response = await client.post("/v1/jobs", json={"type": "test.record"})
            load.statuses[response.status_code] = load.statuses.get(response.status_code, 0) + 1
            if response.status_code == 201:
                load.accepted.append(response.json()["id"])
            elif response.status_code == 503:
                load.retry_after.add(response.headers.get("retry-after", ""))
            if phase == "down":
                load.ready_codes.add((await client.get("/readyz")).status_code)
            await asyncio.sleep(SUBMIT_EVERY_S)
    return load


async def check_nothing_lost(stack: Stack, load: Load) -> None:
    assert set(load.statuses) <= {201, 503}, f"unexpected answers: {load.statuses}"
    assert load.statuses.get(503), "the API never answered 503 during the outage"
    assert load.retry_after == {"2"} or not load.retry_after - {"2"}, load.retry_after
    assert 503 in load.ready_codes, "readiness stayed true during the outage"
    assert stack.api.process.poll() is None, "the API exited:\n" + stack.api.log()[-3000:]
    assert stack.cluster.alive() == stack.cluster.workers, "a worker exited:\n" + stack.cluster.logs()

    async def all_done() -> bool:
        done = await stack.pool.fetchval(
            "SELECT count(*) FROM jobq_jobs WHERE id = ANY($1::uuid[]) AND status = 'succeeded'", load.accepted
        )
        return bool(done == len(load.accepted))

    try:
        await until(all_done, timeout_s=90, every_s=0.25, what="every accepted job to succeed")
    except AssertionError:
        states = await stack.pool.fetch("SELECT status, count(*) FROM jobq_jobs GROUP BY status")
        known = {str(r["id"]) for r in await stack.pool.fetch("SELECT id FROM jobq_jobs")}
        missing = [job_id for job_id in load.accepted if job_id not in known]
        raise AssertionError(
            f"accepted {len(load.accepted)}, missing {len(missing)}, by status {[tuple(r) for r in states]}\n"
            + stack.cluster.logs()
            + stack.api.log()[-4000:]
        ) from None
    recorded = await stack.pool.fetchval(
        "SELECT count(DISTINCT job_id) FROM test_side_effects WHERE job_id = ANY($1::uuid[])", load.accepted
    )
    assert recorded == len(load.accepted)


async def test_redis_stopped_for_5s_under_load_loses_nothing(stack: Stack) -> None:
    port = stack.redis.port

    def outage() -> None:
        stack.redis.stop()

    def recover() -> None:
        stack.redis = start_redis(stack.redis.data_dir, port=port, durable=False)

    load = await steady_load(stack, outage, recover)

    await check_nothing_lost(stack, load)


async def test_postgres_stopped_for_5s_under_load_loses_nothing(stack: Stack) -> None:
    port = stack.postgres.port

    def outage() -> None:
        stack.postgres.stop()

    def recover() -> None:
        stack.postgres = start_postgres(stack.postgres.data_dir, port=port, durable=False)

    load = await steady_load(stack, outage, recover)

    await check_nothing_lost(stack, load)
