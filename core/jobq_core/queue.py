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
# block Redis for long (about 2 ms per 1,000).
ENQUEUE_CHUNK = 1_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)

# Write ARQ's job key and queue entry for each message unless ARQ still holds that id
# (ARQ's own enqueue_job does the same check with WATCH, one round trip per job), then
# wake the idle workers of each queue that got something: the queue key doubles as
# the pub/sub channel (channels and keys are separate namespaces). The messages come
# as one JSON array of [queue key, ARQ id, score, body] (ARGV[1]) with the time to live
# (ARGV[2]): one argument instead of seven per message, which the client would pack
# one by one in Python. Scores arrive as Lua numbers and go to ZADD as "%.14g": exact
# for millisecond times (13 digits until the year 2286).
_ENQUEUE_LUA = """
local added, woken = 0, {}
for _, m in ipairs(cjson.decode(ARGV[1])) do
  local queue_key, id, score, body = m[1], m[2], m[3], m[4]
  local job_key = '__JOB__' .. id
  if redis.call('EXISTS', job_key, '__RESULT__' .. id) == 0 then
    redis.call('SET', job_key, body, 'PX', ARGV[2])
    redis.call('ZADD', queue_key, score, id)
    added = added + 1
    woken[queue_key] = true
  end
end
for queue_key in pairs(woken) do
  redis.call('PUBLISH', queue_key, '')
end
return added
"""

# One round trip of a worker: acknowledge finished deliveries (drop their message,
# job key and lease), then take up to `want` due messages, each leased with ARQ's
# in-progress key so no other worker takes it until the lease ends. A message whose
# job key is gone (expired) is dropped. Running messages stay in the sorted set, as in
# ARQ, so a worker that dies leaves them to be taken again when their lease ends;
# the scan steps over them. KEYS[1]: the queue; ARGV: now_ms, want, lease_ms, acks...
_TAKE_LUA = """
local queue, now, want, lease = KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[3]
local job_prefix, lease_prefix = '__JOB__', '__LEASE__'
for i = 4, #ARGV do
  redis.call('ZREM', queue, ARGV[i])
  redis.call('DEL', job_prefix .. ARGV[i], lease_prefix .. ARGV[i])
end
local taken, offset = {}, 0
while want > 0 do
  local ids = redis.call('ZRANGEBYSCORE', queue, '-inf', now, 'LIMIT', offset, want + 64)
  if #ids == 0 then break end
  offset = offset + #ids
  for _, id in ipairs(ids) do
    if redis.call('SET', lease_prefix .. id, '1', 'NX', 'PX', lease) then
      local body = redis.call('GET', job_prefix .. id)
      if body then
        taken[#taken + 1] = id
        taken[#taken + 1] = body
        want = want - 1
        if want == 0 then break end
      else
        redis.call('ZREM', queue, id)
        redis.call('DEL', lease_prefix .. id)
        offset = offset - 1
      end
    end
  end
end
return taken
"""

# Which of the ARQ ids in ARGV Redis still holds (1) or not (0): the relay's cheap
# check before it encodes and sends anything.
_HELD_LUA = """
local held = {}
for i, id in ipairs(ARGV) do
  held[i] = redis.call('EXISTS', '__JOB__' .. id, '__RESULT__' .. id)
end
return held
"""

# Give leased messages back: their lease ends now, and a deferred one is not due
# before ARGV[2] (ms since the epoch; 0 keeps its place). KEYS[1]: the queue.
_RELEASE_LUA = """
local queue, due = KEYS[1], tonumber(ARGV[1])
for i = 2, #ARGV do
  if due > 0 then redis.call('ZADD', queue, 'XX', due, ARGV[i]) end
  redis.call('DEL', '__LEASE__' .. ARGV[i])
end
return #ARGV - 1
"""


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ is 3x slower, and submits build many
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


@dataclass(frozen=True)
class Delivery:
    """A message a worker has leased: its ARQ id and its body, not yet parsed."""

    arq_id: str
    body: bytes

    def message(self) -> Message:
        """The jobq message in the body; SerializationError when it is not one."""
        return parse_args(deserialize(self.body).get("a") or ())


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


def _encode(d: Dispatch, now_ms: int) -> tuple[str, str, int, str]:
    """(queue key, ARQ id, score, body) of one dispatch, as the enqueue script reads them."""
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
    return names.redis_queue_key(d.queue), arq_id, score(run_at_ms, d.priority, now_ms), body.decode()


class QueueClient:
    """Puts dispatches on Redis for ARQ workers to pick up."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client
        self._enqueue = client.register_script(
            _ENQUEUE_LUA.replace("__JOB__", names.ARQ_JOB_PREFIX).replace("__RESULT__", names.ARQ_RESULT_PREFIX)
        )
        self._take = client.register_script(
            _TAKE_LUA.replace("__JOB__", names.ARQ_JOB_PREFIX).replace("__LEASE__", names.ARQ_IN_PROGRESS_PREFIX)
        )
        self._held = client.register_script(
            _HELD_LUA.replace("__JOB__", names.ARQ_JOB_PREFIX).replace("__RESULT__", names.ARQ_RESULT_PREFIX)
        )
        self._release = client.register_script(_RELEASE_LUA.replace("__LEASE__", names.ARQ_IN_PROGRESS_PREFIX))

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
        added = 0
        try:
            for start in range(0, len(dispatches), ENQUEUE_CHUNK):
                chunk = [_encode(d, now_ms) for d in dispatches[start : start + ENQUEUE_CHUNK]]
                added += int(await self._enqueue(args=[orjson.dumps(chunk), MESSAGE_TTL_MS]))
        except REDIS_ERRORS as exc:
            raise RedisUnavailable(type(exc).__name__) from exc
        return added

    async def held(self, arq_ids: Sequence[str]) -> list[bool]:
        """Whether Redis still holds each of `arq_ids` (a dispatch of it would be skipped)."""
        if not arq_ids:
            return []
        try:
            reply = await self._held(args=list(arq_ids))
        except REDIS_ERRORS as exc:
            raise RedisUnavailable(type(exc).__name__) from exc
        return [bool(n) for n in reply]

    async def take(self, queue: str, want: int, lease_ms: int, acks: Sequence[str] = ()) -> list[Delivery]:
        """Acknowledge `acks` (finished deliveries of `queue`), then lease up to `want` due messages."""
        try:
            reply = await self._take(
                keys=[names.redis_queue_key(queue)], args=[int(time.time() * 1000), want, lease_ms, *acks]
            )
        except REDIS_ERRORS as exc:
            raise RedisUnavailable(type(exc).__name__) from exc
        return [Delivery(reply[i].decode(), reply[i + 1]) for i in range(0, len(reply), 2)]

    async def release(self, queue: str, arq_ids: Sequence[str], defer_s: float = 0.0) -> None:
        """End the lease of `arq_ids` so they can be taken again, after `defer_s` if given."""
        if not arq_ids:
            return
        due_ms = int((time.time() + defer_s) * 1000) if defer_s > 0 else 0
        try:
            await self._release(keys=[names.redis_queue_key(queue)], args=[due_ms, *arq_ids])
        except REDIS_ERRORS as exc:
            raise RedisUnavailable(type(exc).__name__) from exc

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
