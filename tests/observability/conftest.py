"""The API and a worker as real processes, each serving /metrics on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest
from jobq_devrun.servers import free_port

from jobq_core.pg import apikeys
from jobq_core.pg.apikeys import Scope
from tests.conftest import Servers
from tests.support.processes import Service, service_env, start
from tests.support.wait import until


@dataclass
class Stack:
    """The running API and workers, with an admin key and their metrics URLs."""

    api_url: str
    key: str
    worker_metrics_urls: list[str]
    services: list[Service] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    @property
    def targets(self) -> dict[str, list[str]]:
        """Prometheus scrape targets (host:port) by job name."""
        return {
            "jobq-api": [self.api_url.removeprefix("http://")],
            "jobq-worker": [u.removeprefix("http://").removesuffix("/metrics") for u in self.worker_metrics_urls],
        }


async def start_stack(servers: Servers, db: asyncpg.Pool, log_dir: Path, workers: int = 1, **settings: str) -> Stack:
    """Start the API and `workers` workers and wait until all answer."""
    key = await apikeys.create(db, "observability", [Scope.ADMIN])
    api_port = free_port()
    base = service_env(servers.database_url, servers.redis_url, JOBQ_RETRY_BASE_S="0.1", **settings)
    stack = Stack(f"http://127.0.0.1:{api_port}", key, [])
    api = start("jobq_api", {**base, "JOBQ_HOST": "127.0.0.1", "JOBQ_PORT": str(api_port)}, log_dir / "api.log")
    stack.services.append(api)
    for n in range(workers):
        port = free_port()
        env = {**base, "JOBQ_WORKER_METRICS_HOST": "127.0.0.1", "JOBQ_WORKER_METRICS_PORT": str(port)}
        stack.services.append(start("jobq_worker", env, log_dir / f"worker-{n}.log"))
        stack.worker_metrics_urls.append(f"http://127.0.0.1:{port}/metrics")

    async with httpx.AsyncClient(timeout=5) as client:

        async def answering() -> bool:
            for service in stack.services:
                if service.process.poll() is not None:
                    raise AssertionError(f"{service.args} exited early:\n{service.log()}")
            try:
                urls = [
                    stack.api_url + "/readyz",
                    *(u.replace("/metrics", "/healthz") for u in stack.worker_metrics_urls),
                ]
                codes = [(await client.get(u)).status_code for u in urls]
            except httpx.TransportError:
                return False
            live = await db.fetchval("SELECT count(*) FROM jobq_workers WHERE stopped_at IS NULL")
            return codes == [200] * len(urls) and live == workers

        try:
            await until(answering, timeout_s=90, what="the API and the workers to answer")
        except BaseException:
            for service in stack.services:
                service.stop()
            raise
    return stack


@pytest.fixture
async def stack(servers: Servers, db: asyncpg.Pool, tmp_path: Path) -> AsyncIterator[Stack]:
    """The API and one worker (concurrency 10); both must exit 0 on SIGTERM afterwards."""
    running = await start_stack(servers, db, tmp_path)
    yield running
    codes = [s.stop() for s in running.services]
    assert codes == [0] * len(codes), "\n".join(s.log() for s in running.services)
