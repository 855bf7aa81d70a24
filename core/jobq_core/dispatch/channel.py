"""The dispatch channel: jobq's dispatches carried through Redis in ARQ's layout.

One sorted set per queue (``jobq:queue:<name>``), a job key per message and an
in-progress key as a worker's lease, as ARQ lays them out; the message bodies are
JSON (:mod:`.wire`). Every Redis call goes through a Lua script of ``lua/``, loaded
once, and a Redis that cannot be reached is :class:`RedisUnavailable`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import orjson
import redis.asyncio as aioredis
import redis.exceptions

from jobq_core import names
from jobq_core.errors import RedisUnavailable

from .wire import MESSAGE_TTL_MS, Delivery, Dispatch, encode

# Errors that mean "Redis is not there right now", as opposed to a bug.
REDIS_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
)
# Messages per Lua call: large enough to amortise the round trip, small enough not to
# block Redis for long (about 2 ms per 1,000).
ENQUEUE_CHUNK = 1_000


def _script(name: str) -> str:
    return resources.files(__package__).joinpath(f"lua/{name}.lua").read_text(encoding="utf-8")


SCRIPTS: dict[str, str] = {name: _script(name) for name in ("enqueue", "take", "held", "release")}
"""The Lua scripts of ``lua/``, by name."""


@asynccontextmanager
async def unavailable_as_error() -> AsyncIterator[None]:
    """Turn a lost or refused Redis connection into :class:`RedisUnavailable`."""
    try:
        yield
    except REDIS_ERRORS as exc:
        raise RedisUnavailable(type(exc).__name__) from exc


class DispatchChannel:
    """Puts dispatches on Redis and hands them to workers."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client
        self._enqueue = client.register_script(SCRIPTS["enqueue"])
        self._take = client.register_script(SCRIPTS["take"])
        self._held = client.register_script(SCRIPTS["held"])
        self._release = client.register_script(SCRIPTS["release"])

    @classmethod
    def from_url(cls, url: str) -> DispatchChannel:
        """A channel with its own connection pool."""
        return cls(aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5))

    async def enqueue(self, dispatches: Sequence[Dispatch]) -> int:
        """Send `dispatches`; return how many were new to Redis.

        Idempotent: a dispatch of an attempt ARQ still holds is skipped.
        """
        if not dispatches:
            return 0
        now_ms = int(time.time() * 1000)
        added = 0
        async with unavailable_as_error():
            for start in range(0, len(dispatches), ENQUEUE_CHUNK):
                chunk = [encode(d, now_ms) for d in dispatches[start : start + ENQUEUE_CHUNK]]
                added += int(await self._enqueue(args=[orjson.dumps(chunk), MESSAGE_TTL_MS]))
        return added

    async def rescore(self, dispatches: Sequence[Dispatch]) -> int:
        """Re-rank the messages of `dispatches` Redis still waits to deliver (their priority
        changed); return how many moved. `ZADD XX` only updates: a message a worker has
        taken, or one Redis never got, is left alone."""
        if not dispatches:
            return 0
        now_ms = int(time.time() * 1000)
        async with unavailable_as_error(), self.redis.pipeline(transaction=False) as pipe:
            for d in dispatches:
                queue_key, arq_id, score, _ = encode(d, now_ms)
                pipe.zadd(queue_key, {arq_id: score}, xx=True, ch=True)
            return sum(int(n) for n in await pipe.execute())

    async def held(self, arq_ids: Sequence[str]) -> list[bool]:
        """Whether Redis still holds each of `arq_ids` (a dispatch of it would be skipped)."""
        if not arq_ids:
            return []
        async with unavailable_as_error():
            reply = await self._held(args=list(arq_ids))
        return [bool(n) for n in reply]

    async def take(self, queue: str, want: int, default_lease_ms: int, acks: Sequence[str] = ()) -> list[Delivery]:
        """Acknowledge `acks` (finished deliveries of `queue`), then lease up to `want` due messages.

        Each lease lasts what its message says; `default_lease_ms` for a message that says nothing.
        """
        async with unavailable_as_error():
            reply = await self._take(
                keys=[names.redis_queue_key(queue)], args=[int(time.time() * 1000), want, default_lease_ms, *acks]
            )
        return [Delivery(reply[i].decode(), reply[i + 1]) for i in range(0, len(reply), 2)]

    async def release(self, queue: str, arq_ids: Sequence[str], defer_s: float = 0.0) -> None:
        """End the lease of `arq_ids` so they can be taken again, after `defer_s` if given."""
        if not arq_ids:
            return
        due_ms = int((time.time() + defer_s) * 1000) if defer_s > 0 else 0
        async with unavailable_as_error():
            await self._release(keys=[names.redis_queue_key(queue)], args=[due_ms, *arq_ids])

    async def publish_control(self, message: dict[str, Any]) -> None:
        """Tell every worker something now (cancel an attempt, re-read paused queues).

        Best effort: workers also pick these up from PostgreSQL on their heartbeat.
        """
        async with unavailable_as_error():
            await self.redis.publish(names.CONTROL_CHANNEL, orjson.dumps(message))

    async def was_emptied(self, token: str) -> bool:
        """Whether Redis lost its data since the last call: its epoch key is gone (and is set now)."""
        async with unavailable_as_error():
            return bool(await self.redis.set(names.EPOCH_KEY, token, nx=True))

    async def ping(self) -> None:
        """Raise :class:`RedisUnavailable` unless Redis answers."""
        async with unavailable_as_error():
            await self.redis.ping()

    async def close(self) -> None:
        """Close the connection pool."""
        await self.redis.aclose()
