"""Running one delivery: claim in PostgreSQL, run the handler, record the outcome.

Every jobq job goes through :meth:`JobRunner.handle_delivery`. The claim is the lease: a
delivery whose attempt is already claimed, cancelled or finished claims nothing and
is dropped. Claims and successes of concurrent deliveries are written in groups (one
statement and one commit for all that arrive together, see ``batching``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
import uuid
from typing import Any

import asyncpg
import httpx
import orjson
from pydantic import BaseModel

from jobq_core.batching import GroupWriter
from jobq_core.dispatch.channel import DispatchChannel
from jobq_core.dispatch.wire import Dispatch, Message
from jobq_core.errors import DatabaseUnavailable, RedisUnavailable
from jobq_core.model.backoff import Backoff, Reconnect
from jobq_core.model.states import JobStatus, after_failure
from jobq_core.pg import db, store
from jobq_core.pg.db import Q
from jobq_core.telemetry import logs, tracing

from . import metrics
from .consumer import RedeliverLater
from .context import JobContext
from .errors import PermanentFailure, RetryLater
from .registry import Finished, HandlerSpec, Registry
from .settings import WorkerServiceSettings

log = logging.getLogger("jobq.worker")

TRACEBACK_LIMIT = 16_384
# When PostgreSQL is down at claim time, the message is delivered again after this long.
CLAIM_RETRY_S = 1.0
# How long a finished attempt keeps trying to record its outcome while PostgreSQL is down.
RECORD_DEADLINE_S = 120.0


def error_document(exc: BaseException) -> dict[str, Any]:
    """What the job shows for a failed attempt: type, message, traceback (capped)."""
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    tb = "".join(traceback.format_exception(exc))
    return {"type": name, "message": str(exc) or name, "traceback": tb[-TRACEBACK_LIMIT:]}


def result_document(result: Any, max_bytes: int) -> Any:
    """A handler's return value as stored JSON, replaced by a note when too large."""
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json")
    try:
        encoded = orjson.dumps(result)
    except TypeError as exc:
        raise PermanentFailure(f"handler returned a value that is not JSON: {exc}") from exc
    if len(encoded) > max_bytes:
        return {"truncated": True, "size_bytes": len(encoded), "limit_bytes": max_bytes}
    return orjson.loads(encoded)


async def _until_recorded(what: str, write: Any) -> Any:
    """Retry a write that records an outcome while PostgreSQL is unavailable."""
    waits, waited = Reconnect(), 0.0
    while True:
        try:
            return await write()
        except DatabaseUnavailable:
            if waited >= RECORD_DEADLINE_S:
                raise
            wait = waits.next()
            log.warning("PostgreSQL unavailable while recording %s; retrying in %.1fs", what, wait)
            await asyncio.sleep(wait)
            waited += wait


async def _after(spec: HandlerSpec | None, ctx: JobContext, finished: Finished) -> None:
    """Tell the handler how its attempt ended, once recorded; its errors are logged, never raised."""
    if spec is None or spec.finished is None:
        return
    try:
        await spec.finished(ctx, finished)
    except Exception:
        log.exception("the finished hook of %s failed for job %s", spec.name, ctx.job_id)


class JobRunner:
    """Runs deliveries for one worker process, and cancels them on request."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        channel: DispatchChannel,
        registry: Registry,
        worker_id: str,
        settings: WorkerServiceSettings,
        http: httpx.AsyncClient,
    ) -> None:
        self.pool, self.channel, self.registry = pool, channel, registry
        self.worker_id, self.settings, self.http = worker_id, settings, http
        self.backoff = Backoff(base_s=settings.retry_base_s, max_s=settings.retry_max_s)
        # The handler task of each running attempt, by (job id, attempt): a cancel
        # request names both, so it can never hit a later attempt of the same job.
        self.running: dict[tuple[uuid.UUID, int], asyncio.Task[Any]] = {}
        self._cancel_requested: set[tuple[uuid.UUID, int]] = set()
        self.claims: GroupWriter[store.Attempt, None, asyncpg.Record] = GroupWriter(
            lambda group: store.claim_many(pool, worker_id, group)
        )
        self.successes: GroupWriter[store.Attempt, Any, bool] = GroupWriter(
            lambda group: store.finish_succeeded_many(pool, group)
        )

    async def warm_up(self, connections: int) -> None:
        """Open the pool's connections with the claim and success statements prepared."""
        await db.warm_up(
            self.pool,
            connections,
            [(Q["claim_jobs"], (self.worker_id, [], [])), (Q["finish_succeeded_jobs"], ([], [], []))],
        )

    def cancel(self, job_id: uuid.UUID, attempt: int) -> bool:
        """Stop a running attempt whose cancellation was requested; False if not running here."""
        task = self.running.get((job_id, attempt))
        if task is None or task.done():
            return False
        self._cancel_requested.add((job_id, attempt))
        task.cancel()
        return True

    async def handle_delivery(self, message: Message) -> None:
        """Run the delivered attempt, or drop a stale delivery."""
        job_id = uuid.UUID(message.job_id)
        claim_started_ns = time.time_ns()
        try:
            job = await self.claims.submit((job_id, message.attempt), None)
        except DatabaseUnavailable:
            # Keep the message: it is delivered again after the delay.
            log.warning("PostgreSQL unavailable: delivery of %s attempt %d deferred", job_id, message.attempt)
            raise RedeliverLater(CLAIM_RETRY_S) from None
        if job is None:
            log.debug("dropped delivery of %s attempt %d: nothing to claim", job_id, message.attempt)
            return
        with (
            logs.job_scope(message.job_id, job["type"], job["queue"], job["attempts"]),
            tracing.processing(
                job["queue"], message.job_id, job["type"], job["attempts"], job["trace_context"], claim_started_ns
            ),
        ):
            await self.run(job)

    async def run(self, job: asyncpg.Record) -> None:
        """Run a claimed attempt and record its outcome."""
        attempt = job["attempts"]
        key = (job["id"], attempt)
        ctx = JobContext(
            job_id=job["id"],
            type=job["type"],
            queue=job["queue"],
            attempt=attempt,
            max_attempts=job["max_attempts"],
            idempotency_key=job["idempotency_key"],
            settings=self.settings,
            http=self.http,
            _pool=self.pool,
            arq=job["arq"],
        )
        started = metrics.attempt_started(job)
        spec = self.registry.get(job["type"])
        try:
            if spec is None:
                raise PermanentFailure(f"no handler for job type {job['type']!r} on this worker")
            payload = spec.parse(job["payload"])
            task = asyncio.ensure_future(spec.fn(ctx, payload))
            self.running[key] = task
            result = await asyncio.wait_for(task, job["timeout_s"])
            document = result_document(result, self.settings.max_result_bytes)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if key in self._cancel_requested and not (current and current.cancelling()):
                await _until_recorded("a cancellation", lambda: store.finish_cancelled(self.pool, job["id"], attempt))
                metrics.attempt_cancelled(job)
                log.info("job %s attempt %d cancelled on request", job["id"], attempt)
                await _after(spec, ctx, Finished(JobStatus.CANCELLED))
                return
            await asyncio.shield(self._hand_back(job))  # the worker is stopping
            raise
        except Exception as exc:  # a handler may raise anything; all of it is recorded
            if isinstance(exc, TimeoutError):
                exc = TimeoutError(f"job exceeded its timeout of {job['timeout_s']}s")
            status, error = await self._failed(job, exc)
            await _after(spec, ctx, Finished(status, error=error))
        else:
            await _until_recorded("a success", lambda: self.successes.submit(key, document))
            metrics.attempt_succeeded(job)
            await _after(spec, ctx, Finished(JobStatus.SUCCEEDED, result=document))
        finally:
            metrics.attempt_ended(job, started)
            self.running.pop(key, None)
            self._cancel_requested.discard(key)

    async def _failed(self, job: asyncpg.Record, exc: BaseException) -> tuple[JobStatus, dict[str, Any]]:
        """Record a failed attempt; the job's status now and the error document."""
        attempt = job["attempts"]
        if isinstance(exc, RetryLater):  # the handler's (or a server's) wish, within our cap
            delay = min(max(exc.delay_s, 0.0), self.settings.retry_max_s)
        else:
            delay = self.backoff.delay(attempt)
        outcome = after_failure(
            attempt, job["max_attempts"], permanent=isinstance(exc, PermanentFailure), retry_in_s=delay
        )
        log.info("job %s attempt %d failed (%s); next: %s", job["id"], attempt, type(exc).__name__, outcome.status)
        tracing.record_failure(exc, outcome.status)
        metrics.attempt_failed(job, exc, outcome.status)
        error = error_document(exc)
        run_at = await _until_recorded(
            "a failure",
            lambda: store.finish_failed(
                self.pool, job["id"], attempt, outcome.status, outcome.retry_in_s or 0.0, error
            ),
        )
        # A retry after a back-off waits as `scheduled` until the leader promotes it;
        # one due at once is dispatched now.
        if run_at is None or outcome.status != JobStatus.QUEUED:
            return outcome.status, error
        next_dispatch = Dispatch(
            str(job["id"]), attempt + 1, job["queue"], run_at, job["trace_context"], job["priority"], job["timeout_s"]
        )
        try:
            await self.channel.enqueue([next_dispatch])
        except RedisUnavailable:
            log.warning("Redis unavailable: retry of %s waits for the dispatch relay", job["id"])
        return outcome.status, error

    async def _hand_back(self, job: asyncpg.Record) -> None:
        """Give an interrupted attempt back to the queue without counting it."""
        try:
            await store.hand_back(self.pool, job["id"], job["attempts"])
        except Exception:  # the rescue duty recovers the job if this write is lost
            log.exception("could not hand back job %s", job["id"])
