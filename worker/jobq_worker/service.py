"""A worker process: register, heartbeat, consume the queues through ARQ, drain on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
from typing import Any

import asyncpg
import httpx
from arq.connections import ArqRedis
from arq.worker import Worker, func

from jobq_core import __version__, jobtypes
from jobq_core.db import Q, create_pool, unavailable_as_error
from jobq_core.errors import DatabaseUnavailable
from jobq_core.names import ARQ_FUNCTION, redis_queue_key
from jobq_core.queue import QueueClient, deserialize, serialize

from .registry import Registry
from .runner import JobRunner
from .settings import WorkerSettings

log = logging.getLogger("jobq.worker")


def new_worker_id() -> str:
    """A worker id that names the host and process and never repeats."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class WorkerService:
    """One worker process: an ARQ worker per queue, sharing one Redis and one PostgreSQL pool."""

    def __init__(self, settings: WorkerSettings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        self.worker_id = new_worker_id()
        self.queues = settings.queue_list or registry.queues()
        self._stop = asyncio.Event()
        self._arq: list[Worker] = []

    def request_stop(self) -> None:
        """Begin a graceful stop (what SIGTERM does)."""
        self._stop.set()

    async def _register(self, pool: asyncpg.Pool) -> None:
        specs = self.registry.all()
        await jobtypes.register(pool, [s.job_type() for s in specs])
        async with unavailable_as_error():
            await pool.execute(
                Q["register_worker"],
                self.worker_id,
                socket.gethostname(),
                os.getpid(),
                self.queues,
                [s.name for s in specs],
                self.settings.concurrency,
                __version__,
            )

    async def _heartbeat(self, pool: asyncpg.Pool) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.settings.heartbeat_interval_s)
            if self._stop.is_set():
                return
            try:
                async with unavailable_as_error():
                    await pool.execute(Q["heartbeat_worker"], self.worker_id)
            except DatabaseUnavailable:
                log.warning("PostgreSQL unavailable: heartbeat missed")

    def _arq_worker(self, queue: str, runner: JobRunner, redis: ArqRedis) -> Worker:
        longest = max((s.timeout_s for s in self.registry.all()), default=300.0)
        return Worker(
            functions=[func(runner.handle_delivery, name=ARQ_FUNCTION, timeout=longest + 60, max_tries=1_000_000)],
            queue_name=redis_queue_key(queue),
            redis_pool=redis,
            handle_signals=False,
            max_jobs=self.settings.concurrency,
            keep_result=0,
            poll_delay=self.settings.poll_delay_s,
            job_serializer=serialize,
            job_deserializer=deserialize,
            log_results=False,
        )

    async def _drain(self) -> None:
        """Stop taking jobs; let running ones finish up to the drain time; hand back the rest."""
        for w in self._arq:
            w.allow_pick_jobs = False
        running = [t for w in self._arq for t in w.tasks.values() if not t.done()]
        if running:
            log.info("draining %d running job(s) for up to %.0fs", len(running), self.settings.drain_s)
            _, pending = await asyncio.wait(running, timeout=self.settings.drain_s)
            for w in self._arq:
                for task in w.job_tasks.values():
                    task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=10)

    async def run(self) -> None:
        """Serve until :meth:`request_stop`."""
        pool = await create_pool(self.settings.database_url.get_secret_value(), size=self.settings.database_pool_size)
        redis: ArqRedis = ArqRedis.from_url(self.settings.redis_url.get_secret_value(), socket_connect_timeout=2)
        redis.job_serializer, redis.job_deserializer = serialize, deserialize
        queue_client = QueueClient(redis)
        http = httpx.AsyncClient(timeout=self.settings.webhook_timeout_s, follow_redirects=False)
        try:
            await self._register(pool)
            runner = JobRunner(pool, queue_client, self.registry, self.worker_id, self.settings, http)
            self._arq = [self._arq_worker(q, runner, redis) for q in self.queues]
            log.info("worker %s serving queues %s", self.worker_id, ", ".join(self.queues))
            tasks: list[asyncio.Task[Any]] = [asyncio.create_task(w.main()) for w in self._arq]
            tasks.append(asyncio.create_task(self._heartbeat(pool)))
            stop = asyncio.create_task(self._stop.wait())
            done, _ = await asyncio.wait([*tasks, stop], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stop and task.exception():
                    log.error("worker loop failed", exc_info=task.exception())
            await self._drain()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            with contextlib.suppress(Exception):
                async with unavailable_as_error():
                    await pool.execute(Q["stop_worker"], self.worker_id)
            await http.aclose()
            await redis.aclose()
            await pool.close()


async def serve(settings: WorkerSettings, registry: Registry) -> None:
    """Run a worker until SIGTERM or SIGINT."""
    service = WorkerService(settings, registry)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, service.request_stop)
    await service.run()
