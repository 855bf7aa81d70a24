"""Servers a test starts for itself, to stop or kill without touching the session's."""

from __future__ import annotations

from pathlib import Path

from jobq_devrun.servers import LocalServer, start_postgres

from jobq_core.pg.db import create_pool
from jobq_core.pg.migrate import migrate_url
from tests.support.jobtypes import register_builtin_types


async def start_migrated_postgres(data_dir: Path) -> LocalServer:
    """A PostgreSQL of the test's own in `data_dir`, migrated, with the built-in job types."""
    server = start_postgres(data_dir, durable=False)
    await migrate_url(server.url)
    pool = await create_pool(server.url, size=1)
    try:
        await register_builtin_types(pool)
    finally:
        await pool.close()
    return server
