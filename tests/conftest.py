"""Fixtures shared by every suite: real PostgreSQL and Redis started for the session."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import hypothesis
import pytest
import redis.asyncio as aioredis
from jobq_devrun.servers import LocalServer, start_postgres, start_redis

from jobq_core.pg.migrate import migrate_url
from tests.support.xdist_scopes import pytest_xdist_make_scheduler  # noqa: F401 - a hook, registered by name

# Property tests check behaviour, not speed: a busy machine must not fail them on
# Hypothesis's per-example deadline.
hypothesis.settings.register_profile("jobq", deadline=None)
hypothesis.settings.load_profile("jobq")

# Tests never read settings from the machine they run on (jobq's, nor OpenTelemetry's).
for _name in [k for k in os.environ if k.startswith(("JOBQ_", "OTEL_"))]:
    del os.environ[_name]


@dataclass
class Servers:
    """The session's PostgreSQL and Redis."""

    postgres: LocalServer
    redis: LocalServer

    @property
    def database_url(self) -> str:
        return self.postgres.url

    @property
    def redis_url(self) -> str:
        return self.redis.url


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    """PostgreSQL and Redis on free loopback ports, migrated, for the whole session.

    Their data lives in a folder of their own rather than pytest's numbered temporary
    folders, which a concurrent pytest run may clean away.
    """
    with tempfile.TemporaryDirectory(prefix="jobq-test-servers-") as tmp:
        root = Path(tmp)
        pg = start_postgres(root / "pg", durable=False)
        rd = start_redis(root / "redis", durable=False)
        try:
            asyncio.run(migrate_url(pg.url))
            yield Servers(pg, rd)
        finally:
            rd.stop()
            pg.stop()


# Every table a test can fill: a job type a worker registered in one test must not show in
# the next (the dashboard flags a type no live worker serves), whatever order tests run in.
TABLES_RESET_PER_TEST = [
    "jobq_job_attempts",
    "jobq_jobs",
    "jobq_job_types",
    "jobq_workers",
    "jobq_api_keys",
    "jobq_queues",
    "jobq_schedules",
    "jobq_minute_stats",
    "jobq_bulk_operations",
    "jobq_scaler_samples",
    "jobq_scaler_decisions",
    "jobq_audit",
]


@pytest.fixture
async def db(servers: Servers) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the session database, its tables emptied first (TABLES_RESET_PER_TEST) and Redis flushed."""
    from jobq_core.pg.db import create_pool

    pool = await create_pool(servers.database_url, size=5)
    await pool.execute(f"TRUNCATE {', '.join(TABLES_RESET_PER_TEST)}")
    client = aioredis.Redis.from_url(servers.redis_url)
    await client.flushall()
    await client.aclose()
    yield pool
    await pool.close()


@pytest.fixture
async def redis_client(servers: Servers) -> AsyncIterator[aioredis.Redis]:
    """A Redis client on the session's Redis."""
    client = aioredis.Redis.from_url(servers.redis_url)
    yield client
    await client.aclose()
