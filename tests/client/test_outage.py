"""PostgreSQL stopped under a stream of submits from both clients: each submit rides out the
API's 503s (waiting out its Retry-After) and makes exactly one job."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from jobq_devrun.servers import LocalServer, start_postgres, start_redis

from jobq_client import AsyncClient, Client
from jobq_core.pg import apikeys
from jobq_core.pg.apikeys import Scope
from jobq_core.pg.db import create_pool
from tests.client.conftest import start_api
from tests.support.processes import Api
from tests.support.servers import start_migrated_postgres
from tests.support.wait import until

OUTAGE_S = 4.0
SUBMITS_PER_CLIENT = 20


@dataclass
class Stack:
    """Its own PostgreSQL (to stop) and Redis, and the API as a process."""

    postgres: LocalServer
    redis: LocalServer
    api: Api
    key: str
    pool: asyncpg.Pool


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    pg = await start_migrated_postgres(tmp_path / "pg")
    rd = start_redis(tmp_path / "redis", durable=False)
    setup = await create_pool(pg.url, size=1)
    key = await apikeys.create(setup, "outage test", [Scope.JOBS_WRITE])
    await setup.close()
    pool = await asyncpg.create_pool(pg.url, min_size=0, max_size=2)  # reconnects after the outage
    api = await start_api(pg.url, rd.url, tmp_path / "api.log")
    stack = Stack(pg, rd, api, key, pool)
    try:
        yield stack
    finally:
        code = api.service.stop()
        await pool.close()
        stack.redis.stop()
        stack.postgres.stop()  # the server the test restarted
    assert code == 0, f"the API exited {code}:\n{api.service.log()[-3000:]}"


async def test_a_postgres_stop_during_submits_is_ridden_out_and_each_submit_makes_one_job(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="jobq_client")
    made: list[tuple[str, str]] = []  # (the submit's tag, the job it returned)

    async def async_submits(n: int) -> None:
        async with AsyncClient(stack.api.url, api_key=stack.key) as jobq:
            for i in range(SUBMITS_PER_CLIENT):
                tag = f"async-{n}-{i}"
                made.append((tag, (await jobq.submit("jobq.noop", tags=[tag])).id))
                await asyncio.sleep(0.1)

    def sync_submits(n: int) -> None:
        with Client(stack.api.url, api_key=stack.key) as jobq:
            for i in range(SUBMITS_PER_CLIENT):
                tag = f"sync-{n}-{i}"
                made.append((tag, jobq.submit("jobq.noop", tags=[tag]).id))
                time.sleep(0.1)

    load = asyncio.gather(
        async_submits(0), async_submits(1), asyncio.to_thread(sync_submits, 0), asyncio.to_thread(sync_submits, 1)
    )

    async def under_way() -> bool:
        return len(made) >= 8

    await until(under_way, timeout_s=20, what="submits to be under way")
    port = stack.postgres.port
    stack.postgres.stop()  # in this thread: a server dies with the thread that started it
    stopped_at = len(made)
    await asyncio.sleep(OUTAGE_S)
    during = len(made) - stopped_at
    stack.postgres = start_postgres(stack.postgres.data_dir, port=port, durable=False)
    await asyncio.wait_for(load, timeout=60)

    assert during <= 4, "submits went on while PostgreSQL was stopped: there was no outage to ride out"
    retried = [r.getMessage() for r in caplog.records if "answered 503; trying again" in r.getMessage()]
    assert retried, "no submit met a 503"
    assert len(made) == 4 * SUBMITS_PER_CLIENT, "every submit returned its job"
    rows = await stack.pool.fetch("SELECT id::text AS id, tags[1] AS tag FROM jobq_jobs")
    assert sorted((r["tag"], r["id"]) for r in rows) == sorted(made), "each submit made exactly its one job"
