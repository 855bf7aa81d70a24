"""The API and a worker as separate processes, exporting traces to a test receiver."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from jobq_devrun.servers import free_port

from jobq_core.pg import apikeys
from tests.conftest import Servers
from tests.support.otlp import ReceivedSpan, Receiver, otel_env
from tests.support.processes import Service, service_env, start
from tests.support.wait import until

HANDLERS = "tests.observability.handlers"


@dataclass
class Stack:
    """A client of the API process, and the processes."""

    client: httpx.AsyncClient
    api: Service
    worker: Service
    start_worker: Callable[[], Awaitable[Service]]

    async def submit(self, job: dict[str, Any], headers: dict[str, str] | None = None) -> str:
        """Submit one job; return its id."""
        response = await self.client.post("/v1/jobs", json=job, headers=headers or {})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def wait_status(self, job_id: str, status: str, timeout_s: float = 30) -> dict[str, Any]:
        """Poll until the job has `status`; return it."""

        async def probe() -> dict[str, Any] | None:
            job: dict[str, Any] = (await self.client.get(f"/v1/jobs/{job_id}")).json()
            return job if job["status"] == status else None

        return await until(probe, timeout_s=timeout_s, what=f"job {job_id} to be {status}")


@asynccontextmanager
async def traced_stack(
    servers: Servers,
    db: asyncpg.Pool,
    tmp_path: Path,
    receiver: Receiver | None,
    worker_env: dict[str, str] | None = None,
    api_env: dict[str, str] | None = None,
) -> AsyncIterator[Stack]:
    """Start the API and one worker; after, stop every process with SIGTERM: each must exit 0 (or was killed)."""
    port = free_port()
    api_extra = {"JOBQ_HOST": "127.0.0.1", "JOBQ_PORT": str(port), **(api_env or {})}
    worker_extra = {"JOBQ_HANDLER_MODULES": HANDLERS, "JOBQ_RETRY_BASE_S": "0.2", **(worker_env or {})}
    if receiver is not None:
        api_extra.update(otel_env(receiver, "jobq-api"))
        worker_extra.update(otel_env(receiver, "jobq-worker"))
    workers: list[Service] = []

    async def start_worker() -> Service:
        env = service_env(servers.database_url, servers.redis_url, **worker_extra)
        service = start("jobq_worker", env, tmp_path / f"worker-{len(workers)}.log")
        workers.append(service)

        async def registered() -> bool:
            if service.process.poll() is not None:
                raise AssertionError(f"the worker exited early:\n{service.log()}")
            return bool(await db.fetchval("SELECT count(*) FROM jobq_workers WHERE pid = $1", service.process.pid))

        await until(registered, timeout_s=90, what="the worker to register")
        return service

    api = start("jobq_api", service_env(servers.database_url, servers.redis_url, **api_extra), tmp_path / "api.log")
    key = await apikeys.create(db, "observability test", [apikeys.Scope.ADMIN])
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}, timeout=10
        ) as client:
            worker = await start_worker()

            async def ready() -> bool:
                if api.process.poll() is not None:
                    raise AssertionError(f"the API exited early:\n{api.log()}")
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await until(ready, timeout_s=90, what="the API")
            yield Stack(client, api, worker, start_worker)
    finally:
        codes = [w.stop(signal.SIGTERM) for w in workers] + [api.stop(signal.SIGTERM)]
    expected = [-signal.SIGKILL if w.killed else 0 for w in workers] + [0]
    logs = "\n".join(s.log() for s in [*workers, api])
    assert codes == expected, f"exit codes {codes} (workers, API), expected {expected}:\n{logs}"


async def spans_until(receiver: Receiver, what: str, done: Any, timeout_s: float = 20) -> list[ReceivedSpan]:
    """Wait until `done(spans)` holds for the spans received; return them."""

    async def probe() -> list[ReceivedSpan] | None:
        spans = receiver.snapshot()
        return spans if done(spans) else None

    return await until(probe, timeout_s=timeout_s, what=what)
