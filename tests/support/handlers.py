"""Handlers the recovery tests load into real workers (JOBQ_HANDLER_MODULES).

`test.record` writes one row per completed attempt into `test_side_effects`, so a test
can count how often each job's side effect really happened.
"""

from __future__ import annotations

import asyncio
import os

import asyncpg
from pydantic import BaseModel, Field

from jobq_worker import JobContext, Registry

handlers = Registry()

SIDE_EFFECTS_DDL = """
CREATE TABLE IF NOT EXISTS test_side_effects (
    job_id uuid NOT NULL, attempt integer NOT NULL, pid integer NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp())
"""

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
