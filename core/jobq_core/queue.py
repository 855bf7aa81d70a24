"""The dispatch channel: jobq jobs carried through Redis in ARQ's format, as JSON.

A message holds only a job id, the attempt it dispatches and the trace context; the
job itself stays in PostgreSQL. Nothing on the wire is pickled: ARQ's serializer is
replaced on both ends by :func:`serialize` / :func:`deserialize`, which refuse anything
that is not a jobq JSON message.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import redis.asyncio as aioredis
import redis.exceptions

from . import names
from .errors import RedisUnavailable, SerializationError

REDIS_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
)

# How long an undelivered message may stay in Redis (a week). The dispatch relay
# re-sends anything that expired, so this only bounds memory.
MESSAGE_TTL_MS = 7 * 86_400_000
# One priority level is worth this much waiting time in the queue (a day).
PRIORITY_STEP_MS = 86_400_000
MIN_PRIORITY = -100
MAX_PRIORITY = 100
# Messages per Lua call: large enough to amortise the round trip, small enough not to
# block Redis for long.
ENQUEUE_CHUNK = 500
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)

# Write ARQ's job key and queue entry for each message unless ARQ still holds that id
# (ARQ's own enqueue_job does the same check with WATCH, one round trip per job).
_ENQUEUE_LUA = """
local added = 0
for i = 0, (#KEYS / 3) - 1 do
  local job_key, result_key, queue_key = KEYS[i * 3 + 1], KEYS[i * 3 + 2], KEYS[i * 3 + 3]
  if redis.call('EXISTS', job_key, result_key) == 0 then
    redis.call('SET', job_key, ARGV[i * 4 + 3], 'PX', ARGV[i * 4 + 4])
    redis.call('ZADD', queue_key, ARGV[i * 4 + 2], ARGV[i * 4 + 1])
    added = added + 1
  end
end
return added
"""


@dataclass(frozen=True)
class Dispatch:
    """One attempt of one job, to be delivered to a worker of its queue at `run_at`."""

    job_id: str
    attempt: int
    queue: str
    run_at: datetime
    trace_context: dict[str, str] | None = None
    priority: int = 0


@dataclass(frozen=True)
class Message:
    """A delivered dispatch, as the worker reads it."""

    job_id: str
    attempt: int
    trace_context: dict[str, str]


def serialize(obj: dict[str, Any]) -> bytes:
    """ARQ's job serializer, as JSON."""
    return orjson.dumps(obj)


def deserialize(data: bytes) -> dict[str, Any]:
    """ARQ's job deserializer: JSON only; pickled or malformed data is refused."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SerializationError("not JSON") from exc
    if not isinstance(obj, dict) or obj.get("f") != names.ARQ_FUNCTION:
        raise SerializationError("not a jobq message")
    return obj


def parse_args(args: Sequence[Any]) -> Message:
    """The jobq message inside ARQ's argument list."""
    try:
        job_id, attempt, trace = args
        return Message(str(job_id), int(attempt), dict(trace or {}))
    except (TypeError, ValueError) as exc:
        raise SerializationError("malformed arguments") from exc


def _epoch_ms(t: datetime) -> int:
    """`t` in milliseconds since the epoch, rounded up so a job is never delivered early.

    Integer arithmetic: ``int(t.timestamp() * 1000)`` can land a millisecond short.
    """
    return -((_EPOCH - t) // _ONE_MS)


def score(run_at_ms: int, priority: int, now_ms: int) -> int:
    """Where a dispatch sorts in ARQ's queue; workers take the lowest score first.

    Only due jobs are dispatched (the leader promotes delayed ones when they come due),
    so every score sits in the past: the time the job became ready, moved back one day
    per priority level above the lowest. Within a queue a higher priority runs first,
    and jobs of one priority run in the order they became ready, whether they were
    submitted now or delayed or retried. Backdating a future job instead would make it
    run early, ARQ's trap with priorities.
    """
    ready_ms = min(run_at_ms, now_ms)
    return ready_ms - (priority - MIN_PRIORITY + 1) * PRIORITY_STEP_MS


def _encode(d: Dispatch, now_ms: int) -> tuple[list[str], list[Any]]:
    arq_id = names.arq_job_id(d.job_id, d.attempt)
    run_at_ms = _epoch_ms(d.run_at)
    body = serialize(
        {
            "t": None,
            "f": names.ARQ_FUNCTION,
            "a": [d.job_id, d.attempt, d.trace_context or {}],
            "k": {},
            "et": now_ms,
        }
    )
    keys = [
        names.ARQ_JOB_PREFIX + arq_id,
        names.ARQ_RESULT_PREFIX + arq_id,
        names.redis_queue_key(d.queue),
    ]
    return keys, [arq_id, score(run_at_ms, d.priority, now_ms), body, MESSAGE_TTL_MS]


class QueueClient:
    """Puts dispatches on Redis for ARQ workers to pick up."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client
        self._enqueue = client.register_script(_ENQUEUE_LUA)

    @classmethod
    def from_url(cls, url: str) -> QueueClient:
        """A client with its own connection pool."""
        return cls(aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5))

    async def enqueue(self, dispatches: Sequence[Dispatch]) -> int:
        """Send `dispatches`; return how many were new to Redis.

        Idempotent: a dispatch of an attempt ARQ still holds is skipped.
        """
        if not dispatches:
            return 0
        now_ms = int(time.time() * 1000)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for start in range(0, len(dispatches), ENQUEUE_CHUNK):
                    keys: list[str] = []
                    argv: list[Any] = []
                    for d in dispatches[start : start + ENQUEUE_CHUNK]:
                        k, a = _encode(d, now_ms)
                        keys += k
                        argv += a
                    await self._enqueue(keys=keys, args=argv, client=pipe)
                results = await pipe.execute()
        except REDIS_ERRORS as exc:
            raise RedisUnavailable(type(exc).__name__) from exc
        return int(sum(results))

    async def publish_control(self, message: dict[str, Any]) -> None:
        """Tell every worker something now (cancel an attempt, re-read paused queues).

        Best effort: workers also pick these up from PostgreSQL on their heartbeat.
        """
        try:
            await self.redis.publish(names.CONTROL_CHANNEL, orjson.dumps(message))
        except REDIS_ERRORS as exc:
            raise RedisUnavailable(type(exc).__name__) from exc

    async def ping(self) -> None:
        """Raise :class:`RedisUnavailable` unless Redis answers."""
        try:
            await self.redis.ping()
        except REDIS_ERRORS as exc:
            raise RedisUnavailable(type(exc).__name__) from exc

    async def close(self) -> None:
        """Close the connection pool."""
        await self.redis.aclose()
