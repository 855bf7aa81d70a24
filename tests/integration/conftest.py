"""Integration fixtures: the API in-process over ASGI, workers as real processes."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from jobq_api.app import create_app
from jobq_api.settings import ApiSettings
from jobq_core.dispatch.channel import DispatchChannel
from jobq_core.pg import apikeys
from jobq_core.pg.apikeys import Scope
from jobq_worker.duties import Duties
from jobq_worker.settings import WorkerServiceSettings
from tests.conftest import Servers
from tests.support import processes
from tests.support.handlers import SIDE_EFFECTS_DDL
from tests.support.jobtypes import register_builtin_types
from tests.support.processes import Service, service_env
from tests.support.wait import until

ApiClient = httpx.AsyncClient


@pytest.fixture
async def builtin_types(db: asyncpg.Pool) -> None:
    """The built-in job types registered, as a worker would on start."""
    await register_builtin_types(db)


@pytest.fixture
async def side_effects(db: asyncpg.Pool) -> asyncpg.Pool:
    """The side-effect table `test.record` writes to, empty."""
    await db.execute(SIDE_EFFECTS_DDL)
    await db.execute("TRUNCATE test_side_effects")
    return db


def api_settings(servers: Servers, **overrides: Any) -> ApiSettings:
    """API settings pointing at the session's servers."""
    fields = {"database_url": servers.database_url, "redis_url": servers.redis_url, "api_key_cache_s": 0}
    return ApiSettings(**{**fields, **overrides})


async def _client(settings: ApiSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://jobq.test") as client:
            yield client


@pytest.fixture
async def api(servers: Servers, db: asyncpg.Pool, builtin_types: None) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the API app, running in this process against the real servers."""
    async for client in _client(api_settings(servers, max_payload_bytes=4096, max_body_bytes=1_000_000)):
        yield client


@pytest.fixture
async def duties(servers: Servers, db: asyncpg.Pool) -> AsyncIterator[Duties]:
    """The leader's duties in this process, so a test can run one step without waiting for a leader."""
    channel = DispatchChannel.from_url(servers.redis_url)
    settings = WorkerServiceSettings(database_url=servers.database_url, redis_url=servers.redis_url)
    yield Duties(db, channel, settings)
    await channel.close()


@pytest.fixture
async def admin_key(db: asyncpg.Pool) -> str:
    """A key with the admin scope."""
    return await apikeys.create(db, "test admin", [Scope.ADMIN])


@pytest.fixture
def auth(admin_key: str) -> dict[str, str]:
    """Headers that authenticate as admin."""
    return {"Authorization": f"Bearer {admin_key}"}


StartWorker = Callable[..., Awaitable[Service]]


@pytest.fixture
async def start_worker(servers: Servers, db: asyncpg.Pool, tmp_path: Path) -> AsyncIterator[StartWorker]:
    """Start worker processes with extra settings; each is stopped (SIGTERM) after the test.

    Each must exit 0 then, except one the test killed with `Service.kill()`.
    """
    started: list[Service] = []

    async def start_one(**settings: str) -> Service:
        env = service_env(servers.database_url, servers.redis_url, **{"JOBQ_RETRY_BASE_S": "0.2", **settings})
        service = await processes.start_worker(db, env, tmp_path / f"worker-{len(started)}.log")
        started.append(service)
        return service

    yield start_one
    codes = [service.stop() for service in started]
    expected = [-signal.SIGKILL if service.killed else 0 for service in started]
    assert codes == expected, "a worker did not exit cleanly:\n" + "\n".join(s.log() for s in started)


async def wait_for_status(
    api: httpx.AsyncClient, auth: dict[str, str], job_id: str, statuses: set[str], timeout_s: float = 20
) -> dict[str, Any]:
    """Poll the API until the job reaches one of `statuses`; return the job."""

    async def probe() -> dict[str, Any] | None:
        job: dict[str, Any] = (await api.get(f"/v1/jobs/{job_id}", headers=auth)).json()
        return job if job["status"] in statuses else None

    return await until(probe, timeout_s=timeout_s, what=f"job {job_id} to reach {statuses}")
