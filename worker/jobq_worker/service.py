"""A worker process: register, heartbeat, consume its queues, lead when elected, and
drain on SIGTERM. Outages of PostgreSQL or Redis are waited out, never
fatal: each loop reconnects with back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import secrets
import signal
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
import httpx
import orjson
import redis.asyncio as aioredis

from jobq_core import __version__
from jobq_core.dispatch.channel import REDIS_ERRORS, DispatchChannel
from jobq_core.dispatch.wire import LEASE_MARGIN_S
from jobq_core.errors import UnavailableError
from jobq_core.flows.submit import dispatch_waiting
from jobq_core.model.backoff import Reconnect
from jobq_core.names import CONTROL_CHANNEL, redis_queue_key
from jobq_core.pg import jobtypes, migrate, store
from jobq_core.pg.db import Q, create_pool, unavailable_as_error

from . import metrics
from .consumer import QueueConsumer, Slots
from .duties import Duties
from .leader import Leadership
from .registry import Registry
from .runner import JobRunner
from .settings import WorkerServiceSettings

log = logging.getLogger("jobq.worker")

# A claim older than this that runs nowhere in this process was lost on the way back.
LOST_CLAIM_AFTER_S = 5.0
# Connections opened and prepared at start: the pool reuses the most recent connection
# first, so this covers what a busy worker uses at once (a claim group, a success group,
# the heartbeat or a leader duty) without holding connections it would not use.
WARM_CONNECTIONS = 3
_OUTAGES: tuple[type[BaseException], ...] = (*REDIS_ERRORS, UnavailableError)


@dataclass(frozen=True)
class Attached:
    """What an extension of the worker (an ARQ app) works with: the worker's own connections."""

    pool: asyncpg.Pool
    redis: aioredis.Redis
    channel: DispatchChannel
    worker_id: str


class Extension(Protocol):
    """Something the worker starts before it takes jobs and stops after the last (an ARQ app)."""

    async def start(self, attached: Attached) -> dict[str, Callable[[], Awaitable[Any]]]:
        """Prepare; return the loops to run (by name) while the worker serves, supervised."""
        ...

    async def stop(self) -> None:
        """After the drain, before the connections close."""
        ...


def new_worker_id() -> str:
    """A worker id that names the host and process and never repeats."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class WorkerService:
    """One worker process: a consumer per queue, sharing its slots, one Redis and one PostgreSQL pool."""

    def __init__(self, settings: WorkerServiceSettings, registry: Registry, extension: Extension | None = None) -> None:
        self.settings = settings
        self.registry = registry
        self.extension = extension
        self.worker_id = new_worker_id()
        self.queues = settings.queue_list or registry.queues()
        self._stop = asyncio.Event()
        self._consumers: dict[str, QueueConsumer] = {}
        self._paused: set[str] = set()
        self._draining = False
        self._taking_jobs = False  # set once the queue consumers run
        self.runner: JobRunner | None = None

    def _health(self) -> dict[str, object]:
        """What `/healthz` shows besides the heartbeat age."""
        running = len(self.runner.running) if self.runner is not None else 0
        return {"worker_id": self.worker_id, "draining": self._draining, "running": running}

    def _serving(self) -> bool:
        """Whether this worker takes jobs now (what `/readyz` answers)."""
        return self._taking_jobs and not self._draining

    def request_stop(self) -> None:
        """Begin a graceful stop (what SIGTERM does)."""
        if not self._stop.is_set():
            log.info("worker %s stopping", self.worker_id)
        self._stop.set()

    # -- start-up -----------------------------------------------------------------

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

    async def _until_registered(self, pool: asyncpg.Pool) -> bool:
        waits = Reconnect()
        while not self._stop.is_set():
            try:
                async with unavailable_as_error():
                    pending = await migrate.missing(pool)
                if pending:
                    # Started before its migration ran (a fresh install): wait, not crash-loop.
                    wait = waits.next()
                    log.warning("waiting: %s; retrying in %.1fs", migrate.describe_missing(pending), wait)
                    await _pause(self._stop, wait)
                    continue
                await self._register(pool)
                return True
            except UnavailableError as exc:
                wait = waits.next()
                log.warning("cannot register (%s); retrying in %.1fs", exc.message, wait)
                await _pause(self._stop, wait)
        return False

    async def _start_extension(self, attached: Attached) -> dict[str, Callable[[], Awaitable[Any]]] | None:
        """The extension's loops once started (waiting out outages); None when stopped meanwhile."""
        if self.extension is None:
            return {}
        waits = Reconnect()
        while not self._stop.is_set():
            try:
                return await self.extension.start(attached)
            except _OUTAGES as exc:
                wait = waits.next()
                log.warning("cannot start %s (%s); retrying in %.1fs", type(self.extension).__name__, exc, wait)
                await _pause(self._stop, wait)
        return None

    def _consumers_of(self, runner: JobRunner, channel: DispatchChannel) -> dict[str, QueueConsumer]:
        """One consumer per queue, sharing the process's `JOBQ_CONCURRENCY` slots.

        Each message's lease follows its own job's timeout; the longest handler timeout
        is only the lease of a message that carries none (one not written by jobq).
        """
        slots = Slots(self.settings.concurrency)
        longest = max((s.timeout_s for s in self.registry.all()), default=300.0)
        return {
            queue: QueueConsumer(
                queue,
                channel,
                runner.handle_delivery,
                slots=slots,
                default_lease_s=longest + LEASE_MARGIN_S,
                poll_s=self.settings.poll_delay_s,
            )
            for queue in self.queues
        }

    # -- loops ----------------------------------------------------------------------

    async def _supervised(self, name: str, loop: Callable[[], Awaitable[Any]]) -> None:
        """Run `loop` until stop, restarting it with back-off when it fails."""
        waits = Reconnect()
        while not self._stop.is_set():
            try:
                await loop()
                waits.reset()
            except asyncio.CancelledError:
                raise
            except _OUTAGES as exc:
                log.warning("%s: %s; retrying in %.1fs", name, type(exc).__name__, wait := waits.next())
            except Exception:
                log.exception("%s failed; retrying in %.1fs", name, wait := waits.next())
            else:
                wait = waits.next()
            await _pause(self._stop, wait)

    async def _heartbeat(self, pool: asyncpg.Pool) -> None:
        """Heartbeat, and pick up what the control channel may have missed: pauses, cancels."""
        while not self._stop.is_set():
            await _pause(self._stop, self.settings.heartbeat_interval_s)
            if self._stop.is_set():
                return
            try:
                async with unavailable_as_error():
                    if await pool.fetchval(Q["heartbeat_worker"], self.worker_id) is None:
                        log.error("this worker was declared gone (no heartbeat in time); registering again")
                        await pool.execute(Q["revive_worker"], self.worker_id)
                    metrics.heartbeat_ok()
                    await self._refresh_paused(pool)
                    for row in await pool.fetch(Q["cancel_requests_for_worker"], self.worker_id):
                        self._cancel(row["id"], row["attempts"])
                    await self._release_lost_claims(pool)
            except UnavailableError as exc:
                log.warning("heartbeat missed: %s", exc.message)

    async def _release_lost_claims(self, pool: asyncpg.Pool) -> None:
        """Hand back attempts PostgreSQL says we run but we do not.

        A claim can commit while its answer is lost (PostgreSQL stopping mid-reply); the
        delivery is then retried, finds the job already claimed, and is dropped. Without
        this the job would stay `running` on a worker that is alive and never runs it.
        """
        if self.runner is None:
            return
        for row in await pool.fetch(Q["claims_of_worker"], self.worker_id, LOST_CLAIM_AFTER_S):
            if (row["id"], row["attempts"]) not in self.runner.running:
                released = await store.hand_back(pool, row["id"], row["attempts"])
                if released is not None:
                    log.warning("handing back job %s: its claim was made but never run here", row["id"])
                    await dispatch_waiting(pool, self.runner.channel, [released])

    async def _refresh_paused(self, pool: asyncpg.Pool) -> None:
        async with unavailable_as_error():
            self._paused = {r["name"] for r in await pool.fetch(Q["paused_queues"])}
        self._apply_pick_rules()

    def _apply_pick_rules(self) -> None:
        for queue, consumer in self._consumers.items():
            taking = not self._draining and queue not in self._paused
            if consumer.taking != taking:
                consumer.taking = taking
                consumer.wake()

    def _cancel(self, job_id: uuid.UUID, attempt: int) -> None:
        if self.runner is not None and self.runner.cancel(job_id, attempt):
            log.info("cancelling job %s attempt %d on request", job_id, attempt)

    async def _control(self, redis: aioredis.Redis, pool: asyncpg.Pool) -> None:
        """Act on control messages at once (cancel an attempt, re-read paused queues), and
        wake a queue's consumer when something is enqueued on it."""
        wake_channels = {redis_queue_key(q).encode(): c for q, c in self._consumers.items()}
        pubsub = redis.pubsub()
        try:
            await pubsub.subscribe(CONTROL_CHANNEL, *wake_channels)
            await self._refresh_paused(pool)  # catch up on what passed while unsubscribed
            for consumer in self._consumers.values():
                consumer.wake()
            while not self._stop.is_set():
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None:
                    continue
                woken = wake_channels.get(message["channel"])
                if woken is not None:
                    woken.wake()
                    continue
                try:
                    body = orjson.loads(message["data"])
                    if body.get("kind") == "cancel":
                        self._cancel(uuid.UUID(body["job_id"]), int(body["attempt"]))
                    elif body.get("kind") == "queues":
                        await self._refresh_paused(pool)
                except (ValueError, KeyError, TypeError):
                    log.warning("ignored a malformed control message")
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _drain(self) -> None:
        """Stop taking jobs; let running ones finish up to the drain time; hand back the rest."""
        self._draining = True
        self._apply_pick_rules()
        # One deadline for the whole drain: the pod's grace period is JOBQ_DRAIN_S plus a margin.
        deadline = asyncio.get_running_loop().time() + self.settings.drain_s
        # A take under way when the drain began still starts the jobs it brings; they
        # must be drained too, not left running while the connections close.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await asyncio.gather(*(c.settled() for c in self._consumers.values()))
        running = self._running_jobs()
        if running:
            log.info("draining %d running job(s) for up to %.0fs", len(running), self.settings.drain_s)
            await asyncio.wait(running, timeout=max(0.0, deadline - asyncio.get_running_loop().time()))
        # Read again: a take that outlived the wait for it (a stalled Redis) may have started more.
        pending = self._running_jobs()
        if pending:
            log.info("handing back %d job(s) still running", len(pending))
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=10)
        for queue, consumer in self._consumers.items():
            # Bounded: a Redis that stopped answering must not hold the stop (the acks
            # not sent leave messages whose claims are already settled in PostgreSQL).
            with contextlib.suppress(*_OUTAGES):
                try:
                    await asyncio.wait_for(consumer.flush(), FLUSH_S)
                except TimeoutError:
                    log.warning("queue %s: acknowledgements not sent within %.0fs on stopping", queue, FLUSH_S)

    def _running_jobs(self) -> list[asyncio.Task[None]]:
        return [t for c in self._consumers.values() for t in c.tasks if not t.done()]

    # -- the process ----------------------------------------------------------------

    async def run(self) -> None:
        """Serve until :meth:`request_stop`."""
        pool = await create_pool(self.settings.database_url.get_secret_value(), size=self.settings.database_pool_size)
        redis = aioredis.Redis.from_url(self.settings.redis_url.get_secret_value(), socket_connect_timeout=2)
        channel = DispatchChannel(redis)
        http = httpx.AsyncClient(timeout=self.settings.webhook_timeout_s, follow_redirects=False)
        tasks: list[asyncio.Task[Any]] = []
        endpoint = None
        try:
            endpoint = await metrics.start_endpoint(self.settings, self._health, self._serving)
            if not await self._until_registered(pool):
                return
            self.runner = JobRunner(pool, channel, self.registry, self.worker_id, self.settings, http)
            await self.runner.warm_up(min(WARM_CONNECTIONS, self.settings.database_pool_size))
            self._consumers = self._consumers_of(self.runner, channel)
            loops = await self._start_extension(Attached(pool, redis, channel, self.worker_id))
            if loops is None:
                return
            log.info("worker %s serving queues %s", self.worker_id, ", ".join(self.queues))
            tasks = [asyncio.create_task(self._supervised(name, loop), name=name) for name, loop in loops.items()]
            tasks += [
                asyncio.create_task(self._supervised(f"queue {q}", c.run), name=f"queue {q}")
                for q, c in self._consumers.items()
            ]
            self._taking_jobs = True
            tasks.append(asyncio.create_task(self._heartbeat(pool), name="heartbeat"))
            tasks.append(
                asyncio.create_task(
                    self._supervised("control channel", lambda: self._control(redis, pool)), name="control channel"
                )
            )
            if self.settings.leader_duties:
                leadership = Leadership(self.settings, self.worker_id, pool, Duties(pool, channel, self.settings))
                tasks.append(asyncio.create_task(leadership.run(self._stop), name="leadership"))
                tasks.append(
                    asyncio.create_task(
                        metrics.publish_leader_snapshot(pool, lambda: leadership.is_leader, self._stop, self.settings),
                        name="leader metrics",
                    )
                )
            await self._stop.wait()
            await self._drain()
            if self.extension is not None:
                await self.extension.stop()
        finally:
            for task in tasks:
                task.cancel()
            await _stopped(tasks)
            if endpoint is not None:
                await endpoint.close()
            with contextlib.suppress(Exception):
                async with unavailable_as_error():
                    await asyncio.wait_for(pool.execute(Q["stop_worker"], self.worker_id), 5)
            await http.aclose()
            await redis.aclose()
            try:
                await asyncio.wait_for(pool.close(), 10)
            except TimeoutError:
                pool.terminate()


FLUSH_S = 5.0
# Cancelled tasks end at their next await; one that has not after this long is stuck,
# and the process goes on stopping without it (and says where it was).
STOP_TASKS_S = 10.0


async def _stopped(tasks: list[asyncio.Task[Any]]) -> None:
    """Wait for cancelled `tasks` to end, for up to STOP_TASKS_S; log any that did not."""
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=STOP_TASKS_S)
    for task in pending:
        where = io.StringIO()
        task.print_stack(file=where)
        name, stack = task.get_name(), where.getvalue()
        log.error("task %s did not stop within %.0fs; stopping without it. %s", name, STOP_TASKS_S, stack)


async def serve(settings: WorkerServiceSettings, registry: Registry, extension: Extension | None = None) -> None:
    """Run a worker until SIGTERM or SIGINT."""
    service = WorkerService(settings, registry, extension)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, service.request_stop)
    await service.run()
