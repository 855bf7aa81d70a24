"""What ARQ's ``Job`` handle reads, kept up for jobs an ARQ producer enqueued.

ARQ's ``Job(job_id, redis).status()`` looks for a result key (complete), an in-progress
key (in_progress) and the job's score in the queue's sorted set (queued or deferred);
``result()`` reads the result key and keeps waiting while the job is in the sorted set.
The intake leaves each job in the sorted set (score negated, see ``lua/intake.lua``);
this writes the in-progress key while an attempt runs and, when the job is done, the
result (as ARQ's own ``serialize_result`` writes it, for ``keep_result``) and removes
the rest, as ARQ's ``finish_job`` does.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from arq.constants import abort_jobs_ss, in_progress_key_prefix, job_key_prefix, result_key_prefix, retry_key_prefix
from arq.jobs import serialize_result

from jobq_core.dispatch.channel import unavailable_as_error


@dataclass(frozen=True)
class Outcome:
    """A finished job as ARQ's result describes it."""

    arq_id: str
    function: str
    args: Sequence[Any]
    kwargs: dict[str, Any]
    job_try: int
    enqueue_time_ms: int
    success: bool
    result: Any
    start_ms: int
    finish_ms: int


def now_ms() -> int:
    return int(time.time() * 1000)


class ArqView:
    """Writes ARQ's keys of one ARQ queue."""

    def __init__(self, redis: aioredis.Redis, queue: str, serializer: Any) -> None:
        self.redis, self.queue, self.serializer = redis, queue, serializer

    async def started(self, arq_id: str, lease_s: float) -> None:
        """An attempt runs: ARQ's status says in_progress until it ends (or the lease does)."""
        async with unavailable_as_error():
            await self.redis.set(in_progress_key_prefix + arq_id, b"1", px=int(lease_s * 1000))

    async def between_attempts(self, arq_id: str) -> None:
        """An attempt ended and another follows: queued again, as far as ARQ can tell."""
        async with unavailable_as_error():
            await self.redis.delete(in_progress_key_prefix + arq_id)

    async def finished(self, outcome: Outcome | None, arq_id: str, keep_ms: int | None) -> None:
        """The job is done: write its result for `keep_ms` (None: for ever; 0 or no outcome: none), remove the rest."""
        data = None
        if outcome is not None and keep_ms != 0:
            data = serialize_result(
                outcome.function,
                tuple(outcome.args),
                outcome.kwargs,
                outcome.job_try,
                outcome.enqueue_time_ms,
                outcome.success,
                outcome.result,
                outcome.start_ms,
                outcome.finish_ms,
                f"{arq_id}:{outcome.function}",
                self.queue,
                arq_id,
                serializer=self.serializer,
            )
        async with unavailable_as_error(), self.redis.pipeline(transaction=True) as tr:
            if data is not None:
                tr.set(result_key_prefix + arq_id, data, px=keep_ms)
            tr.delete(in_progress_key_prefix + arq_id, job_key_prefix + arq_id, retry_key_prefix + arq_id)
            tr.zrem(abort_jobs_ss, arq_id)
            tr.zrem(self.queue, arq_id)
            await tr.execute()

    async def forget(self, arq_ids: Sequence[str]) -> None:
        """Remove messages that will never run here (unreadable ones, recorded as dead jobs)."""
        if not arq_ids:
            return
        async with unavailable_as_error(), self.redis.pipeline(transaction=True) as tr:
            tr.zrem(self.queue, *arq_ids)
            tr.delete(*(job_key_prefix + i for i in arq_ids))
            await tr.execute()


def _ms(t: datetime | None) -> int:
    return int(t.timestamp() * 1000) if t is not None else now_ms()


def arq_result(status: str, result: Any, error: dict[str, Any] | None) -> tuple[bool, Any]:
    """ARQ's (success, result) of a job that ended `status` (succeeded, cancelled or dead)."""
    if status == "succeeded":
        return True, result
    if status == "cancelled":
        return False, "cancelled: the job was aborted or cancelled before it finished"
    error = error or {}
    return False, f"{error.get('type', 'Error')}: {error.get('message', 'failed')}"


def outcome_of(job: Any) -> Outcome:
    """ARQ's account of a finished job row (succeeded, dead or cancelled).

    A failure's result is its error in words: a JSON result cannot carry the exception
    ARQ pickles, so ARQ's ``Job.result()`` raises ``SerializationError`` with them — what
    ARQ itself does with a JSON serializer, minus the words.
    """
    arq = job["arq"] or {}
    payload = job["payload"] if isinstance(job["payload"], dict) else {}
    success, result = arq_result(job["status"], job["result"], job["error"])
    return Outcome(
        arq_id=str(arq.get("id") or job["id"]),
        function=job["type"],
        args=payload.get("args", []),
        kwargs=payload.get("kwargs", {}),
        job_try=max(1, int(job["attempts"])),
        enqueue_time_ms=int(arq.get("enqueue_time_ms") or _ms(job["created_at"])),
        success=success,
        result=result,
        start_ms=_ms(job["started_at"]),
        finish_ms=_ms(job["finished_at"]),
    )
