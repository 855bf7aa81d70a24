"""Reading and writing the jobs that came through an ARQ producer (`jobq_jobs.arq`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from .db import Q, unavailable_as_error
from .store import Executor


@dataclass(slots=True)
class UnreadableMessage:
    """An ARQ message that cannot run, recorded as a dead job (see `insert_unreadable`)."""

    id: uuid.UUID
    type: str
    queue: str
    payload: Any
    idempotency_key: str
    tags: list[str]
    error: dict[str, Any]
    arq: dict[str, Any]


async def insert_unreadable(db: Executor, messages: Sequence[UnreadableMessage]) -> int:
    """Record `messages` as dead jobs; return how many were new (a key seen before is skipped)."""
    if not messages:
        return 0
    async with unavailable_as_error():
        return len(await db.fetch(Q["insert_unreadable_arq_message"], list(messages)))


async def live_jobs(db: Executor, arq_ids: Sequence[str]) -> list[asyncpg.Record]:
    """The waiting or running jobs of `arq_ids`, each with its `arq_id` and `enqueue_time_ms`."""
    async with unavailable_as_error():
        return await db.fetch(Q["live_arq_jobs"], list(arq_ids))


async def latest_jobs(db: Executor, arq_ids: Sequence[str]) -> dict[str, asyncpg.Record]:
    """The newest job of each of `arq_ids` that has one, by ARQ id."""
    async with unavailable_as_error():
        rows = await db.fetch(Q["latest_arq_jobs"], list(arq_ids))
    return {r["arq_id"]: r for r in rows}
