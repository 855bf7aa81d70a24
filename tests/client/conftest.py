"""Client fixtures: the API as a uvicorn process over a real socket (shared by this folder's
tests), a real worker where a test needs one, and each client, sync and async, called alike.

Everything a test can change is reset per test by the `db` fixture (tables truncated,
Redis flushed); keys are made per test after that.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from jobq_client import AsyncClient, Client
from jobq_client.models import JobOut
from jobq_core.pg import apikeys
from jobq_core.pg.apikeys import Scope
from tests.conftest import Servers
from tests.integration.conftest import admin_key, builtin_types, start_worker
from tests.support import processes
from tests.support.processes import Api, service_env

__all__ = ["admin_key", "builtin_types", "start_worker"]  # the integration fixtures these tests use too


async def start_api(database_url: str, redis_url: str, log: Path, **settings: str) -> Api:
    """Start the API as a process on these servers and wait until it is ready."""
    env = service_env(database_url, redis_url, **{"JOBQ_API_KEY_CACHE_S": "0", **settings})  # keys are made per test
    return await processes.start_api(env, log)


@pytest.fixture(scope="package")
async def api_process(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    """The API for this folder's tests, serving every route `jobq run`'s does; it must exit 0 at the end."""
    folder = tmp_path_factory.mktemp("client-api")
    (folder / "mail").mkdir()
    api = await start_api(
        servers.database_url, servers.redis_url, folder / "api.log", JOBQ_LOCAL_MAIL_DIR=str(folder / "mail")
    )
    yield api
    code = api.service.stop()
    assert code == 0, f"the API exited {code}:\n{api.service.log()[-3000:]}"


@pytest.fixture
async def api_url(api_process: Api, db: asyncpg.Pool, builtin_types: None) -> str:
    """The API's URL, on servers reset for this test, with the built-in job types registered."""
    return api_process.url


async def new_key(db: asyncpg.Pool, *scopes: Scope) -> str:
    """A new API key with these scopes."""
    return await apikeys.create(db, "client test", list(scopes))


class Both:
    """A `Client` or an `AsyncClient`, called alike: `await jobq.get_job(id)`.

    The blocking client runs in a thread, so the test's event loop (and what it serves)
    goes on meanwhile.
    """

    def __init__(self, client: Client | AsyncClient) -> None:
        self.client = client

    @property
    def kind(self) -> str:
        return "async" if isinstance(self.client, AsyncClient) else "sync"

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self.client, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            if isinstance(self.client, AsyncClient):
                return await method(*args, **kwargs)
            return await asyncio.to_thread(functools.partial(method, *args, **kwargs))

        return call

    async def iter_jobs(self, **filters: Any) -> list[JobOut]:
        """Everything `iter_jobs` yields."""
        if isinstance(self.client, AsyncClient):
            return [job async for job in self.client.iter_jobs(**filters)]
        sync = self.client
        return await asyncio.to_thread(lambda: list(sync.iter_jobs(**filters)))

    async def close(self) -> None:
        if isinstance(self.client, AsyncClient):
            await self.client.aclose()
        else:
            self.client.close()


MakeClient = Callable[..., Awaitable[Both]]


@pytest.fixture(params=["sync", "async"])
async def make_client(request: pytest.FixtureRequest) -> AsyncIterator[MakeClient]:
    """Make clients of this test's kind (each test runs once per kind); closed after the test.

    Takes what the clients take, with `transport` an httpx transport of the right kind
    (see `Counting`).
    """
    made: list[Both] = []

    async def make(base_url: str, api_key: str, **options: Any) -> Both:
        cls = AsyncClient if request.param == "async" else Client
        transport = options.pop("transport", None)
        if isinstance(transport, Counting):
            transport = transport.for_async() if request.param == "async" else transport.for_sync()
        client = Both(cls(base_url, api_key=api_key, transport=transport, **options))
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


@pytest.fixture
async def jobq(make_client: MakeClient, api_url: str, admin_key: str) -> Both:
    """A client (sync, then async) with an admin key on the test's API."""
    return await make_client(api_url, admin_key)


class Counting:
    """A real transport that counts the requests made through it, by method and path, and
    can answer some paths itself (`refuse`: path → status) instead of sending them."""

    def __init__(self, refuse: dict[str, int] | None = None) -> None:
        self.requests: list[tuple[str, str]] = []
        self.refuse = refuse or {}

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p in self.requests if (m, p) == (method, path))

    def _refusal(self, request: httpx.Request) -> httpx.Response | None:
        self.requests.append((request.method, request.url.path))
        status = self.refuse.get(request.url.path)
        if status is None:
            return None
        body = {"type": "about:blank", "title": "refused by the test", "status": status}
        return httpx.Response(status, json=body, headers={"Content-Type": "application/problem+json"})

    def for_sync(self) -> httpx.BaseTransport:
        counting, real = self, httpx.HTTPTransport()

        class Sync(httpx.BaseTransport):
            def handle_request(self, request: httpx.Request) -> httpx.Response:
                return counting._refusal(request) or real.handle_request(request)

            def close(self) -> None:
                real.close()

        return Sync()

    def for_async(self) -> httpx.AsyncBaseTransport:
        counting, real = self, httpx.AsyncHTTPTransport()

        class Async(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                return counting._refusal(request) or await real.handle_async_request(request)

            async def aclose(self) -> None:
                await real.aclose()

        return Async()
