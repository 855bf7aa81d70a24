"""Migrations build the declared schema, once, even when two processes migrate at once."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from jobq_core.pg.migrate import migrate, migrations
from tests.conftest import Servers

FreshDatabase = Callable[[], Awaitable[str]]


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` on the same server."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@pytest.fixture
async def fresh_database(servers: Servers) -> AsyncIterator[FreshDatabase]:
    """Create empty databases on the session's PostgreSQL; drop them after the test."""
    admin = await asyncpg.connect(servers.database_url)
    created: list[str] = []

    async def create() -> str:
        name = f"jobq_test_{uuid.uuid4().hex[:16]}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return with_database(servers.database_url, name)

    try:
        yield create
    finally:
        for name in created:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def catalog(conn: asyncpg.Connection) -> dict[str, dict[str, Any]]:
    """jobq's tables (not the migrations log) in detail, and jobq's functions."""
    tables = [
        r["table_name"]
        for r in await conn.fetch(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_name LIKE 'jobq\\_%'"
            " AND table_name <> 'jobq_schema_migrations' ORDER BY table_name"
        )
    ]
    out: dict[str, dict[str, Any]] = {"tables": {}, "functions": {}}
    for table in tables:
        columns = await conn.fetch(
            "SELECT column_name, data_type, udt_name, is_nullable, column_default,"
            " character_maximum_length, numeric_precision"
            " FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name = $1 ORDER BY column_name",
            table,
        )
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes"
            " WHERE schemaname = 'public' AND tablename = $1 ORDER BY indexname",
            table,
        )
        constraints = await conn.fetch(
            "SELECT conname, contype, pg_get_constraintdef(oid) AS definition FROM pg_constraint"
            " WHERE conrelid = $1::regclass ORDER BY conname",
            f"public.{table}",
        )
        triggers = await conn.fetch(
            "SELECT tgname, pg_get_triggerdef(oid) AS definition FROM pg_trigger"
            " WHERE tgrelid = $1::regclass AND NOT tgisinternal ORDER BY tgname",
            f"public.{table}",
        )
        out["tables"][table] = {
            "columns": [dict(r) for r in columns],
            "indexes": [dict(r) for r in indexes],
            "constraints": [dict(r) for r in constraints],
            "triggers": [dict(r) for r in triggers],
        }
    for r in await conn.fetch(
        "SELECT p.proname, pg_get_functiondef(p.oid) AS definition FROM pg_proc p"
        " JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'public' AND p.proname LIKE 'jobq\\_%' ORDER BY p.proname"
    ):
        out["functions"][r["proname"]] = r["definition"]
    return out


def declared_schema() -> str:
    return resources.files("jobq_core.pg").joinpath("schema.sql").read_text(encoding="utf-8")


def declared(kind: str) -> set[str]:
    """Names of the objects of one kind (TABLE, FUNCTION, TRIGGER) schema.sql creates."""
    return set(re.findall(rf"^CREATE (?:OR REPLACE )?{kind} (\w+)", declared_schema(), re.MULTILINE))


def declared_tables() -> set[str]:
    return declared("TABLE")


async def test_the_migrations_build_the_declared_schema(fresh_database: FreshDatabase) -> None:
    migrated = await asyncpg.connect(await fresh_database())
    built = await asyncpg.connect(await fresh_database())
    try:
        await migrate(migrated)
        await built.execute(declared_schema())

        from_migrations = await catalog(migrated)
        from_schema = await catalog(built)
    finally:
        await migrated.close()
        await built.close()

    # The comparison means something only if it sees the tables, and sees them in detail.
    assert set(from_schema["tables"]) == declared_tables()
    jobs = from_schema["tables"]["jobq_jobs"]
    assert {c["column_name"] for c in jobs["columns"]} >= {"id", "status", "payload", "run_at"}
    assert any("CHECK" in c["definition"] for c in jobs["constraints"])
    assert any("UNIQUE INDEX jobq_jobs_idempotency_key" in i["indexdef"] for i in jobs["indexes"])
    assert set(from_schema["functions"]) == declared("FUNCTION")
    assert {t["tgname"] for p in from_schema["tables"].values() for t in p["triggers"]} == declared("TRIGGER")

    assert set(from_migrations["tables"]) == set(from_schema["tables"])
    for table, declared_parts in from_schema["tables"].items():
        for part, declared_value in declared_parts.items():
            assert from_migrations["tables"][table][part] == declared_value, f"{table} {part} differ"
    assert from_migrations["functions"] == from_schema["functions"]


async def test_migrating_twice_applies_nothing_the_second_time(fresh_database: FreshDatabase) -> None:
    conn = await asyncpg.connect(await fresh_database())
    try:
        first = await migrate(conn)
        before = await catalog(conn)
        second = await migrate(conn)
        log = await conn.fetch("SELECT version, name FROM jobq_schema_migrations ORDER BY version")
        after = await catalog(conn)
    finally:
        await conn.close()

    shipped = migrations()
    assert shipped, "no migrations shipped"
    assert first == [m.version for m in shipped]
    assert second == []
    assert [(r["version"], r["name"]) for r in log] == [(m.version, m.name) for m in shipped]
    assert after == before


async def test_concurrent_migrations_apply_each_version_once(fresh_database: FreshDatabase) -> None:
    url = await fresh_database()
    one, two = await asyncpg.connect(url), await asyncpg.connect(url)
    try:
        results = await asyncio.gather(migrate(one), migrate(two))
        log = await one.fetch("SELECT version FROM jobq_schema_migrations ORDER BY version")
        tables = set((await catalog(one))["tables"])
    finally:
        await one.close()
        await two.close()

    versions = [m.version for m in migrations()]
    assert sorted(results[0] + results[1]) == versions
    assert [] in results  # one process found the work done
    assert [r["version"] for r in log] == versions
    assert tables == declared_tables()


def test_migration_files_are_numbered_without_gaps() -> None:
    shipped = migrations()
    assert [m.version for m in shipped] == list(range(1, len(shipped) + 1))
    assert all(m.sql.strip() for m in shipped)
