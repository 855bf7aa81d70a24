"""Handlers the integration tests load into real workers (JOBQ_HANDLER_MODULES).

`test.record` writes one row per completed attempt into `test_side_effects`, so a test
can count how often each job's side effect really happened. `test.gate` holds its slot
until the test opens the gate (a file appears): a signal, not a duration. `test.retry_later`
asks for its retry with `RetryLater`.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncpg
from pydantic import BaseModel, Field

from jobq_worker import JobContext, Registry, RetryLater

handlers = Registry()

SIDE_EFFECTS_DDL = """
CREATE TABLE IF NOT EXISTS test_side_effects (
    job_id uuid NOT NULL, attempt integer NOT NULL, pid integer NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp())
"""

MODULE = __name__  # what JOBQ_HANDLER_MODULES names to load these

_pool: asyncpg.Pool | None = None


async def _db(ctx: JobContext) -> asyncpg.Pool:
    global _pool
    if _pool is None:
        _pool = await asyncpg.create_pool(ctx.settings.database_url.get_secret_value(), min_size=1, max_size=5)
    assert _pool is not None
    return _pool


class RecordPayload(BaseModel):
    """How long to work before recording the side effect."""

    sleep_s: float = Field(default=0.0, ge=0, le=600)


@handlers.handler("test.record", payload=RecordPayload, timeout_s=120, max_attempts=3)
async def record(ctx: JobContext, payload: RecordPayload) -> dict[str, int]:
    """Sleep, then record that this attempt completed."""
    await asyncio.sleep(payload.sleep_s)
    pool = await _db(ctx)
    await pool.execute(
        "INSERT INTO test_side_effects (job_id, attempt, pid) VALUES ($1, $2, $3)", ctx.job_id, ctx.attempt, os.getpid()
    )
    return {"pid": os.getpid()}


async def side_effects_per_job(db: asyncpg.Pool) -> dict[str, int]:
    """How many times each job's side effect happened."""
    rows = await db.fetch("SELECT job_id::text AS job_id, count(*) AS n FROM test_side_effects GROUP BY job_id")
    return {r["job_id"]: r["n"] for r in rows}


class GatePayload(BaseModel):
    """The file whose appearance opens the gate."""

    path: str


@handlers.handler("test.gate", payload=GatePayload, timeout_s=60, max_attempts=1)
async def gate(ctx: JobContext, payload: GatePayload) -> dict[str, bool]:
    """Hold this slot until the gate file exists."""
    while not Path(payload.path).exists():
        await asyncio.sleep(0.02)
    return {"opened": True}


class RetryLaterPayload(BaseModel):
    """The delay the first attempt asks for."""

    delay_s: float = Field(ge=0)


@handlers.handler("test.retry_later", payload=RetryLaterPayload, timeout_s=30, max_attempts=2)
async def retry_later(ctx: JobContext, payload: RetryLaterPayload) -> dict[str, int]:
    """Fail the first attempt with `RetryLater(delay_s)`; succeed on the second."""
    if ctx.attempt == 1:
        raise RetryLater("not yet", delay_s=payload.delay_s)
    return {"attempt": ctx.attempt}
