"""Job types in PostgreSQL: registered by workers, read (and cached) by the API."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from jobq_core.errors import UnknownJobType
from jobq_core.model.jobtype import JobType

from .db import Q, unavailable_as_error


async def register(db: asyncpg.Pool | asyncpg.Connection, types: list[JobType]) -> None:
    """Record (or update) `types`."""
    async with unavailable_as_error():
        await db.executemany(
            Q["upsert_job_type"],
            [(t.name, t.queue, t.payload_schema, t.timeout_s, t.max_attempts, t.description) for t in types],
        )


async def load_all(
    db: asyncpg.Pool | asyncpg.Connection, previous: dict[str, JobType] | None = None
) -> dict[str, JobType]:
    """Every registered job type, by name.

    A type that is unchanged since `previous` is that same object, so its compiled
    validator is reused: compiling a schema costs far more than reading it.
    """
    async with unavailable_as_error():
        rows = await db.fetch(Q["list_job_types"])
    out: dict[str, JobType] = {}
    for r in rows:
        fields = (r["name"], r["queue"], r["payload_schema"], r["timeout_s"], r["max_attempts"], r["description"])
        old = previous.get(r["name"]) if previous else None
        if old is not None and fields == (
            old.name,
            old.queue,
            old.payload_schema,
            old.timeout_s,
            old.max_attempts,
            old.description,
        ):
            out[r["name"]] = old
        else:
            out[r["name"]] = JobType(*fields)
    return out


class JobTypeCache:
    """The registered job types, re-read at most every `ttl_s` seconds.

    A name not in the cache forces a re-read (at most once per `miss_interval_s`), so a
    type a worker registered a moment ago is found without waiting for the TTL.
    """

    def __init__(self, pool: asyncpg.Pool, ttl_s: float = 5.0, miss_interval_s: float = 0.5):
        self._pool = pool
        self._ttl_s = ttl_s
        self._miss_interval_s = miss_interval_s
        self._types: dict[str, JobType] = {}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _refresh(self, min_age_s: float) -> None:
        async with self._lock:
            if time.monotonic() - self._loaded_at >= min_age_s:
                self._types = await load_all(self._pool, self._types)
                self._loaded_at = time.monotonic()

    async def all(self) -> dict[str, JobType]:
        """Every job type, re-read when the cache is older than the TTL."""
        if time.monotonic() - self._loaded_at >= self._ttl_s:
            await self._refresh(self._ttl_s)
        return self._types

    async def get(self, name: str) -> JobType:
        """The job type `name`, or :class:`UnknownJobType`."""
        types = await self.all()
        if name not in types:
            await self._refresh(self._miss_interval_s)
            types = self._types
        try:
            return types[name]
        except KeyError:
            raise UnknownJobType(name) from None
