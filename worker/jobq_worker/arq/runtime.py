"""An ARQ app inside a jobq worker: its functions as handlers, its hooks, its intake.

ARQ calls ``await f(ctx, *args, **kwargs)`` with a ``ctx`` dict holding the worker's
context (``redis``, whatever ``on_startup`` put there) and the job's (``job_id``,
``job_try``, ``enqueue_time``, ``score``). So does this, and adds jobq's own
:class:`~jobq_worker.JobContext` under ``ctx["jobq"]`` (progress, logger, attempt).
A hook that raises is logged and the worker carries on (ARQ's own worker stops).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from arq.connections import ArqRedis
from arq.cron import CronJob
from arq.worker import Function, Retry
from pydantic import BaseModel, ConfigDict, Field

from jobq_core.dispatch.wire import LEASE_MARGIN_S
from jobq_core.errors import RedisUnavailable
from jobq_core.flows.declared_schedules import reconcile
from jobq_core.model.states import JobStatus

from ..context import JobContext
from ..errors import PermanentFailure, RetryLater
from ..registry import Finished, HandlerFn, HandlerSpec, Registry
from . import cron
from .app import ArqApp
from .intake import Intake
from .view import ArqView, Outcome, arq_result, now_ms

log = logging.getLogger("jobq.worker.arq")

# The key of jobq's own context in an ARQ function's ctx.
JOBQ_CONTEXT_KEY = "jobq"


class ArqCall(BaseModel):
    """The payload of a job of an ARQ function: its positional and keyword arguments."""

    model_config = ConfigDict(extra="forbid")
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)


@dataclass
class _Attempt:
    ctx: dict[str, Any]
    call: ArqCall
    start_ms: int


class ArqRuntime:
    """Runs one ARQ app in a jobq worker (a :class:`~jobq_worker.service.Extension`)."""

    def __init__(self, app: ArqApp) -> None:
        self.app = app
        self.ctx: dict[str, Any] = dict(app.worker.ctx)
        self.view: ArqView | None = None
        self._attempts: dict[tuple[uuid.UUID, int], _Attempt] = {}

    # -- the handlers ------------------------------------------------------------------

    def registry(self) -> Registry:
        """A job type per function and cron job, on the app's queue."""
        registry = Registry()
        for name, f in self.app.functions.items():
            doc = (f.coroutine.__doc__ or "").strip().split("\n")[0] or f"ARQ function of {self.app.reference}"
            registry.add(
                HandlerSpec(
                    name=name,
                    fn=self._handler(f),
                    payload_model=ArqCall,
                    queue=self.app.queue,
                    timeout_s=self.app.timeout_s(f),
                    max_attempts=self.app.max_tries(f),
                    description=doc,
                    finished=self._finished,
                )
            )
        return registry

    def _handler(self, f: Function | CronJob) -> HandlerFn:
        lease_s = self.app.timeout_s(f) + LEASE_MARGIN_S

        async def run(job: JobContext, call: ArqCall) -> Any:
            arq = job.arq or {}
            arq_id = arq.get("id")
            started = now_ms()
            ctx = {
                **self.ctx,
                "job_id": arq_id or str(job.job_id),
                # ARQ's _job_try sets the try a job starts from.
                "job_try": job.attempt + max(0, int(arq.get("job_try") or 1) - 1),
                "enqueue_time": datetime.fromtimestamp(int(arq.get("enqueue_time_ms") or started) / 1000, UTC),
                "score": abs(int(arq.get("score") or started)),
                JOBQ_CONTEXT_KEY: job,
            }
            self._attempts[(job.job_id, job.attempt)] = _Attempt(ctx, call, started)
            expires = arq.get("expires_at_ms")
            if expires is not None and started > expires:
                raise PermanentFailure("expired: the job had not started by its ARQ expiry (enqueue_job's _expires)")
            if arq_id and self.view is not None:
                with contextlib.suppress(RedisUnavailable):
                    await self.view.started(arq_id, lease_s)
            await self._hook("on_job_start", ctx)
            try:
                result = await f.coroutine(ctx, *call.args, **call.kwargs)
            except asyncio.CancelledError:
                raise
            except Retry as retry:
                await self._hook("on_job_end", ctx)
                raise RetryLater(repr(retry), (retry.defer_score or 0) / 1000) from None
            except BaseException:
                await self._hook("on_job_end", ctx)
                raise
            await self._hook("on_job_end", ctx)
            return result

        return run

    async def _finished(self, job: JobContext, finished: Finished) -> None:
        """After the outcome is recorded: ARQ's view of it, then `after_job_end`."""
        attempt = self._attempts.pop((job.job_id, job.attempt), None)
        arq_id = (job.arq or {}).get("id")
        if arq_id and self.view is not None:
            try:
                if finished.status in (JobStatus.QUEUED, JobStatus.SCHEDULED):
                    await self.view.between_attempts(arq_id)
                else:
                    await self.view.finished(self._outcome(job, finished, attempt), arq_id, self._keep_ms(job.type))
            except RedisUnavailable:
                log.warning("Redis unavailable: ARQ's view of %s is brought up to date later", arq_id)
        if attempt is not None:
            await self._hook("after_job_end", attempt.ctx)

    def _outcome(self, job: JobContext, finished: Finished, attempt: _Attempt | None) -> Outcome:
        arq = job.arq or {}
        call = attempt.call if attempt is not None else ArqCall()
        success, result = arq_result(finished.status, finished.result, finished.error)
        started = attempt.start_ms if attempt is not None else now_ms()
        return Outcome(
            arq_id=str(arq.get("id")),
            function=job.type,
            args=call.args,
            kwargs=call.kwargs,
            job_try=attempt.ctx["job_try"] if attempt is not None else job.attempt,
            enqueue_time_ms=int(arq.get("enqueue_time_ms") or started),
            success=success,
            result=result,
            start_ms=started,
            finish_ms=now_ms(),
        )

    def _keep_ms(self, name: str) -> int | None:
        f = self.app.functions.get(name)
        return self.app.keep_result_ms(f) if f is not None else 0

    async def _hook(self, name: str, ctx: dict[str, Any]) -> None:
        hook = self.app.hook(name)
        if hook is None:
            return
        try:
            await hook(ctx)
        except Exception:
            log.exception("ARQ %s hook of %s raised; the worker carries on", name, self.app.reference)

    # -- the worker's start and stop --------------------------------------------------

    async def start(self, attached: Any) -> dict[str, Any]:
        """Before jobs are taken: ctx['redis'], on_startup, the cron schedules; the intake loop to run."""
        worker = self.app.worker
        redis = ArqRedis(
            attached.redis.connection_pool,
            job_serializer=worker.job_serializer,
            job_deserializer=worker.job_deserializer,
            default_queue_name=self.app.queue,
            expires_extra_ms=worker.expires_extra_ms,
        )
        self.view = ArqView(attached.redis, self.app.queue, worker.job_serializer)
        self.ctx["redis"] = redis
        await self._hook("on_startup", self.ctx)
        declared = cron.declared_schedules(
            self.app.cron_jobs,
            queue=self.app.queue,
            timezone=cron.timezone_name(self.app.explicit.get("timezone")),
            default_timeout_s=float(worker.job_timeout_s or 300),
            default_max_tries=int(worker.max_tries),
        )
        done = await reconcile(attached.pool, attached.channel, cron.owner(self.app.queue), declared, datetime.now(UTC))
        log.info("ARQ cron jobs of %s: %s", self.app.reference, done)
        intake = Intake(attached.pool, attached.channel, attached.redis, self.app, self.view)
        poll_s = float(worker.poll_delay_s or 0.5)
        return {f"ARQ intake of {self.app.queue}": lambda: intake.run(poll_s)}

    async def stop(self) -> None:
        """After the last job: on_shutdown."""
        await self._hook("on_shutdown", self.ctx)
