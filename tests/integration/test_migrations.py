"""Migrations build the declared schema, once, even when two processes migrate at once."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from jobq_devrun.processes import wait_for_workers
from jobq_devrun.servers import LOOPBACK, free_port, start_postgres

from jobq_core.pg.migrate import migrate, migrate_url, migrations
from tests.conftest import Servers
from tests.support.processes import service_env, start
from tests.support.wait import until

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


async def test_an_api_and_a_worker_started_before_the_migration_wait_for_it(
    fresh_database: FreshDatabase, servers: Servers, tmp_path: Path
) -> None:
    # A fresh install starts every pod at once: the API must stay unready and the worker
    # must wait (not crash-loop) until the migration Job has run.
    url = await fresh_database()
    redis_url = urlunsplit(urlsplit(servers.redis_url)._replace(path="/9"))  # Redis of its own
    metrics_port = free_port()
    env = service_env(url, redis_url, JOBQ_WORKER_METRICS_PORT=str(metrics_port))
    port = free_port()
    api = start("jobq_api", {**env, "JOBQ_HOST": LOOPBACK, "JOBQ_PORT": str(port)}, tmp_path / "api.log")
    worker = start("jobq_worker", env, tmp_path / "worker.log")
    try:
        async with httpx.AsyncClient(base_url=f"http://{LOOPBACK}:{port}", timeout=5) as client:

            async def readiness() -> httpx.Response | None:
                assert api.process.poll() is None, f"the API exited:\n{api.log()}"
                try:
                    return await client.get("/readyz")
                except httpx.TransportError:
                    return None

            unready = await until(readiness, timeout_s=60, what="the API to answer /readyz")
            assert unready is not None and unready.status_code == 503
            assert "lacks migration(s) 0001" in unready.json()["checks"]["postgres"]
            early = await client.get("/v1/jobs", headers={"Authorization": "Bearer jobq_early"})
            assert early.status_code == 503, early.text
            assert "not migrated" in early.json()["detail"]
            await until(
                lambda: asyncio.sleep(0, "waiting: the database schema lacks" in worker.log()),
                timeout_s=30,
                what="the worker to say it waits for the schema",
            )
            assert worker.process.poll() is None, f"the worker exited:\n{worker.log()}"
            worker_ready = f"http://{LOOPBACK}:{metrics_port}/readyz"
            assert (await client.get(worker_ready)).status_code == 503  # not capacity yet
            assert (await client.get(f"http://{LOOPBACK}:{metrics_port}/healthz")).status_code == 200  # alive

            await migrate_url(url)

            async def ready() -> bool:
                response = await readiness()
                return response is not None and response.status_code == 200

            await until(ready, timeout_s=30, what="the API to be ready once migrated")
            await wait_for_workers(url, [worker.process], timeout_s=30)

            async def worker_is_ready() -> bool:
                return (await client.get(worker_ready)).status_code == 200

            await until(worker_is_ready, timeout_s=30, what="the worker's /readyz to answer 200")
    finally:
        # Both stopped before either is judged: a failed check must not leave a process behind.
        worker_exit, api_exit = worker.stop(), api.stop()
    assert worker_exit == 0, worker.log()
    assert api_exit == 0, api.log()


def test_migrate_with_a_wait_retries_until_postgresql_starts(tmp_path: Path) -> None:
    # The chart's migration Job starts beside the bundled PostgreSQL: it must wait for it.
    port = free_port()
    url = f"postgresql://postgres@{LOOPBACK}:{port}/postgres"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBQ_")}
    env |= {"JOBQ_DATABASE_URL": url, "JOBQ_REDIS_URL": f"redis://{LOOPBACK}:1/0"}
    refused = subprocess.run(
        [sys.executable, "-m", "jobq_core.cli", "migrate"], env=env, capture_output=True, text=True, timeout=60
    )
    # Without a wait, a server that is not there is an error at once: one line, no traceback.
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.startswith("jobq: cannot reach PostgreSQL (") and "Traceback" not in refused.stderr

    waiting = subprocess.Popen(
        [sys.executable, "-m", "jobq_core.cli", "migrate", "--wait-s", "60"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(2)
        assert waiting.poll() is None, waiting.communicate()
        server = start_postgres(tmp_path / "pg", port, durable=False)
        try:
            out, err = waiting.communicate(timeout=60)
        finally:
            server.stop()
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, err
    assert f"applied {len(migrations())} migration(s)" in out
    assert "PostgreSQL unreachable" in err
