"""Taking in what ARQ producers enqueue: every message becomes a jobq job before it runs.

An ARQ producer (``ArqRedis.enqueue_job``) writes a job key and a sorted-set entry, and
nothing else: no channel to listen on. So each worker of the app polls the queue every
``poll_delay`` (ARQ's own worker does the same), takes the new messages in one Lua call,
records them in PostgreSQL in one statement — keyed by ARQ's job id and enqueue time, so
taking a message twice makes one job — dispatches them through jobq's own queue, and
marks them taken (``lua/intake.lua``, ``lua/mark.lua``).

A message that cannot run (pickled, not JSON, malformed, a function this app does not
have) is recorded as a dead job saying why, counted, and removed from ARQ's queue: it is
never acknowledged silently. Aborts (``Job.abort()``, ARQ's ``arq:abort`` set) cancel the
job through jobq's cancel path, and only a job enqueued before the abort.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import asyncpg
import orjson
import redis.asyncio as aioredis
from arq.constants import abort_jobs_ss, health_check_key_suffix

from jobq_core.dispatch.channel import DispatchChannel, unavailable_as_error
from jobq_core.flows.cancel import cancel
from jobq_core.flows.submit import submit
from jobq_core.model.states import initial_status
from jobq_core.pg import arq as arq_store
from jobq_core.pg import store
from jobq_core.telemetry import metrics as m

from .app import ArqApp
from .view import ArqView, now_ms, outcome_of

log = logging.getLogger("jobq.worker.arq")

# Messages per intake call and statement.
BATCH = 500
# How long a taken message is this worker's to record before another may take it.
CLAIM_MS = 30_000
# An abort that finds no job is kept this long (its job may be being taken in), then dropped.
ABORT_WAIT_MS = 10_000
# How often one worker of the app repairs ARQ's view, and how much of it at a time.
SWEEP_S = 5.0
SWEEP_BATCH = 500
# ARQ's health-check key lives this long (arq --check fails once it is gone).
HEALTH_TTL_MS = 60_000
FINAL = ("succeeded", "dead", "cancelled")
_TAG = "arq"


def _script(name: str) -> str:
    return resources.files(__package__).joinpath(f"lua/{name}.lua").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Taken:
    """One message as the intake script returns it."""

    arq_id: str
    score: float
    body: bytes
    ttl_ms: int


def unreadable_reason(body: bytes) -> tuple[str, str] | None:
    """(metric reason, plain words) when `body` is not a JSON ARQ message; None when it is."""
    if body[:1] == b"\x80":  # every pickle protocol from 2 on starts so; ARQ's default writes 4 or 5
        return "pickled", (
            "pickled ARQ message refused: set job_serializer/job_deserializer to JSON on the pool "
            "(create_pool(..., job_serializer=lambda v: json.dumps(v).encode(), job_deserializer=json.loads))"
        )
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return "not_json", f"unreadable ARQ message: not JSON ({exc})"
    if not isinstance(message, dict) or not isinstance(message.get("f"), str):
        return "malformed", "malformed ARQ message: no function name ('f')"
    if not isinstance(message.get("a", []), list) or not isinstance(message.get("k", {}), dict):
        return "malformed", "malformed ARQ message: args ('a') must be a list and kwargs ('k') an object"
    return None


class Intake:
    """Takes in one ARQ queue's new messages and aborts, for one worker."""

    def __init__(
        self, pool: asyncpg.Pool, channel: DispatchChannel, redis: aioredis.Redis, app: ArqApp, view: ArqView
    ) -> None:
        self.pool, self.channel, self.app, self.view = pool, channel, app, view
        self.queue = app.queue
        self._take = redis.register_script(_script("intake"))
        self._mark = redis.register_script(_script("mark"))
        self.redis = redis
        self._sweep_from = 0

    async def run(self, poll_s: float) -> None:
        """Take in until cancelled: at once again after a full batch, else after `poll_s`."""
        next_sweep = 0.0
        while True:
            taken = await self.once()
            if self.app.worker.allow_abort_jobs:
                await self.aborts()
            if time.monotonic() >= next_sweep:
                await self.sweep()
                next_sweep = time.monotonic() + SWEEP_S
            if taken < BATCH:
                await asyncio.sleep(poll_s)

    async def once(self) -> int:
        """One round: take, record, dispatch, mark. The number of messages taken."""
        async with unavailable_as_error():
            reply = await self._take(keys=[self.queue], args=[BATCH, CLAIM_MS])
        taken = [
            Taken(reply[i].decode(), float(reply[i + 1]), reply[i + 2], int(reply[i + 3]))
            for i in range(0, len(reply), 4)
        ]
        if not taken:
            return 0
        runnable: list[store.NewJob] = []
        unreadable: list[arq_store.UnreadableMessage] = []
        for t in taken:
            job = self._job(t)
            if isinstance(job, store.NewJob):
                runnable.append(job)
            else:
                unreadable.append(job)
        if runnable:
            await submit(self.pool, self.channel, runnable)
        if unreadable:
            await arq_store.insert_unreadable(self.pool, unreadable)
            for u in unreadable:
                m.ARQ_UNREADABLE.labels(self.queue, u.arq["reason"]).inc()
                log.error(
                    "ARQ message %s of %s recorded as dead job %s: %s",
                    u.arq["id"],
                    self.queue,
                    u.id,
                    u.error["message"],
                )
            await self.view.forget([u.arq["id"] for u in unreadable])
        async with unavailable_as_error():
            await self._mark(keys=[self.queue], args=[x for t in taken for x in (t.arq_id, t.score)])
        return len(taken)

    def _job(self, t: Taken) -> store.NewJob | arq_store.UnreadableMessage:
        now = now_ms()
        envelope: dict[str, Any] = {
            "id": t.arq_id,
            "score": int(t.score),
            "expires_at_ms": now + t.ttl_ms if t.ttl_ms >= 0 else None,
        }
        problem = unreadable_reason(t.body)
        message: dict[str, Any] = {} if problem else orjson.loads(t.body)
        function = self.app.functions.get(message.get("f", ""))
        if problem is None and function is None:
            problem = (
                "unknown_function",
                f"unknown function {message['f']!r}: {self.app.reference} has no such function",
            )
        envelope["enqueue_time_ms"] = int(message.get("et") or now)
        envelope["job_try"] = message.get("t")
        # ARQ's id and enqueue time: the same message taken twice is one job, while an id
        # enqueued again after its job finished is a new one.
        key = f"arq:{t.arq_id}:{envelope['enqueue_time_ms']}"
        if problem is not None:
            reason, words = problem
            payload = (
                {"args": message.get("a", []), "kwargs": message.get("k", {})}
                if message
                else {"raw_base64": base64.b64encode(t.body[:1024]).decode(), "size_bytes": len(t.body)}
            )
            return arq_store.UnreadableMessage(
                id=store.new_job_id(),
                type=str(message.get("f") or "arq.unreadable"),
                queue=self.queue,
                payload=payload,
                idempotency_key=key,
                tags=[_TAG],
                error={"type": "jobq.arq.UnreadableMessage", "message": words},
                arq={**envelope, "reason": reason},
            )
        run_at = datetime.fromtimestamp(max(t.score, now) / 1000, UTC) if t.score > 1 else datetime.now(UTC)
        return store.NewJob(
            id=store.new_job_id(),
            type=function.name,  # type: ignore[union-attr]
            queue=self.queue,
            status=initial_status((t.score - now) / 1000),
            payload={"args": message.get("a", []), "kwargs": message.get("k", {})},
            priority=0,
            max_attempts=self.app.max_tries(function),  # type: ignore[arg-type]
            timeout_s=self.app.timeout_s(function),  # type: ignore[arg-type]
            idempotency_key=key,
            tags=[_TAG],
            run_at=run_at,
            arq=envelope,
        )

    async def aborts(self) -> None:
        """Cancel the jobs `Job.abort()` asked for; drop aborts that reach nothing.

        An abort reaches only a job enqueued before it: ARQ leaves a stale abort to
        cancel a later job that reuses the id (python-arq/arq#485), jobq does not.
        """
        async with unavailable_as_error():
            entries = await self.redis.zrange(abort_jobs_ss, 0, 999, withscores=True)
        if not entries:
            return
        asked = {key.decode(): int(score) for key, score in entries}
        done: set[str] = set()
        for job in await arq_store.live_jobs(self.pool, list(asked)):
            if job["enqueue_time_ms"] > asked[job["arq_id"]]:
                continue
            cancelled = await cancel(self.pool, self.channel, job["id"])
            done.add(job["arq_id"])
            if cancelled is not None and not cancelled.was_running:  # a running one's worker says so itself
                await self._finished(cancelled.job)
        now = now_ms()
        done |= {i for i, at in asked.items() if now - at > ABORT_WAIT_MS}
        if done:
            async with unavailable_as_error():
                await self.redis.zrem(abort_jobs_ss, *done)

    async def sweep(self) -> None:
        """Bring ARQ's view up to date where a write was missed, one worker at a time.

        A job whose view was not written (Redis away when it finished, or cancelled
        through jobq's API while it waited) would otherwise keep ARQ's ``Job.result()``
        waiting for ever. Also refreshes ARQ's health-check key (``arq --check``).
        """
        async with unavailable_as_error():
            if not await self.redis.set(f"jobq:arq:sweep:{self.queue}", b"1", nx=True, px=int(SWEEP_S * 1000)):
                return
            await self.redis.set(
                self.queue + health_check_key_suffix, f"jobq worker serving {self.queue}".encode(), px=HEALTH_TTL_MS
            )
            ids = await self.redis.zrangebyscore(self.queue, "-inf", "(0", start=self._sweep_from, num=SWEEP_BATCH)
        self._sweep_from = self._sweep_from + len(ids) if len(ids) == SWEEP_BATCH else 0
        arq_ids = [i.decode() for i in ids]
        latest = await arq_store.latest_jobs(self.pool, arq_ids)
        for arq_id in arq_ids:
            job = latest.get(arq_id)
            if job is None:  # deleted or pruned: nothing will ever finish it
                await self.view.finished(None, arq_id, 0)
            elif job["status"] in FINAL:
                await self._finished(job)

    async def _finished(self, job: asyncpg.Record) -> None:
        function = self.app.functions.get(job["type"])
        keep = self.app.keep_result_ms(function) if function is not None else 0
        await self.view.finished(outcome_of(job), job["arq"]["id"], keep)
