"""`jobq.sleep` and `jobq.fail`: for demos and tests.

Off in production (`JOBQ_DEMO_HANDLERS`): with them any `jobs:write` key could fill
every slot with hour-long sleeps. `make run` and the tests turn them on.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..context import JobContext
from ..errors import PermanentFailure
from ..registry import Registry

handlers = Registry()


class SleepPayload(BaseModel):
    """How long to sleep."""

    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(ge=0, le=3600, description="Seconds to sleep.")
    steps: int = Field(default=1, ge=1, le=100, description="Report progress this many times.")


@handlers.handler("jobq.sleep", payload=SleepPayload, timeout_s=3700, max_attempts=3)
async def sleep(ctx: JobContext, payload: SleepPayload) -> dict[str, Any]:
    """Sleep, reporting progress along the way."""
    for step in range(payload.steps):
        await asyncio.sleep(payload.seconds / payload.steps)
        await ctx.progress((step + 1) / payload.steps, f"slept {step + 1}/{payload.steps}")
    return {"slept_s": payload.seconds}


class FailPayload(BaseModel):
    """How to fail."""

    model_config = ConfigDict(extra="forbid")
    message: str = Field(default="failed on purpose", max_length=1000)
    times: int | None = Field(
        default=None, ge=0, description="Fail this many attempts, then succeed; null fails every attempt."
    )
    permanent: bool = Field(default=False, description="Fail permanently: no retry.")


class DeliberateFailure(Exception):
    """The failure `jobq.fail` raises."""


@handlers.handler("jobq.fail", payload=FailPayload, timeout_s=30, max_attempts=3)
async def fail(ctx: JobContext, payload: FailPayload) -> dict[str, Any]:
    """Fail (for testing retries and dead jobs), optionally only the first `times` attempts."""
    if payload.times is not None and ctx.attempt > payload.times:
        return {"succeeded_on_attempt": ctx.attempt}
    if payload.permanent:
        raise PermanentFailure(payload.message)
    raise DeliberateFailure(payload.message)
