"""The servers a bench of jobq alone starts for itself (bench/dashboard.py, bench/at_scale.py)."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from jobq_devrun.servers import start_postgres, start_redis

from jobq_core.pg import apikeys
from jobq_core.pg.migrate import migrate_url
from tests.support.processes import Service


@dataclass
class Servers:
    """What `servers` started; services put in `services` are stopped with the servers."""

    tmp: Path
    database_url: str
    redis_url: str
    pool: asyncpg.Pool
    admin_key: str
    postgres_pid: int
    services: list[Service] = field(default_factory=list)


@asynccontextmanager
async def servers(prefix: str, prepare: Callable[[str], Awaitable[None]] | None = None) -> AsyncIterator[Servers]:
    """In a temporary directory: a durable PostgreSQL (as in production), migrated and then
    `prepare`d (given its URL), a Redis without persistence, a pool and an admin key."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        pg = start_postgres(Path(tmp) / "pg", durable=True)
        rd = start_redis(Path(tmp) / "redis", durable=False)
        started: list[Service] = []
        try:
            await migrate_url(pg.url)
            if prepare is not None:
                await prepare(pg.url)
            pool = await asyncpg.create_pool(pg.url, min_size=1, max_size=4)
            try:
                key = await apikeys.create(pool, "bench", [apikeys.Scope.ADMIN])
                yield Servers(Path(tmp), pg.url, rd.url, pool, key, pg.process.pid, started)
            finally:
                await pool.close()
        finally:
            for service in started:
                service.stop()
            rd.stop()
            pg.stop()
