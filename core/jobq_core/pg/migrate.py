"""Schema migrations: numbered SQL files applied in order and recorded in a table."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

log = logging.getLogger(__name__)

_FILE = re.compile(r"^(\d{4})_(\w+)\.sql$")
# Any constant works; it only has to be the same in every process that migrates.
_MIGRATION_LOCK = 0x6A6F6271_0001


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The migration files shipped with jobq, in order."""
    found = []
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


async def migrate(conn: asyncpg.Connection) -> list[int]:
    """Apply the migrations this database lacks; return the versions applied.

    Safe to run from several processes at once: an advisory lock serialises them.
    """
    applied: list[int] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS jobq_schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM jobq_schema_migrations")}
        for migration in migrations():
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO jobq_schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            log.info("applied migration %04d_%s", migration.version, migration.name)
            applied.append(migration.version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied


async def missing(db: asyncpg.Connection | asyncpg.Pool) -> list[int]:
    """The shipped migrations `db` has not applied: all of them on a database never migrated.

    A database ahead of this code (a newer release migrated it during a rolling upgrade)
    misses none: migrations only add, so the older code still runs on it.
    """
    try:
        rows = await db.fetch("SELECT version FROM jobq_schema_migrations")
    except asyncpg.UndefinedTableError:
        rows = []
    done = {r["version"] for r in rows}
    return [m.version for m in migrations() if m.version not in done]


def describe_missing(versions: list[int]) -> str:
    """What a process waiting for the schema says, naming the versions and the remedy."""
    listed = ", ".join(f"{v:04d}" for v in versions)
    return f"the database schema lacks migration(s) {listed}: run `jobq migrate` (the chart's migration Job does)"


async def migrate_url(dsn: str) -> list[int]:
    """Connect to `dsn`, migrate, disconnect."""
    conn = await asyncpg.connect(dsn)
    try:
        return await migrate(conn)
    finally:
        await conn.close()
