"""Handlers the observability tests load into real workers (JOBQ_HANDLER_MODULES)."""

from __future__ import annotations

import asyncio
import logging

from pydantic import BaseModel

from jobq_worker import JobContext, PermanentFailure, Registry

handlers = Registry()

log = logging.getLogger("tests.observability")


class Empty(BaseModel):
    """No payload."""


@handlers.handler("obs.fail_once", payload=Empty, timeout_s=30, max_attempts=3)
async def fail_once(ctx: JobContext, payload: Empty) -> dict[str, int]:
    """Fail the first attempt, succeed on the second."""
    if ctx.attempt == 1:
        raise RuntimeError("first attempt fails on purpose")
    return {"attempt": ctx.attempt}


@handlers.handler("obs.log", payload=Empty, timeout_s=30, max_attempts=1)
async def log_lines(ctx: JobContext, payload: Empty) -> None:
    """Log through the job's logger and through a plain module logger."""
    ctx.log.info("hello from the job's logger")
    log.warning("hello from a module logger")


@handlers.handler("obs.fail", payload=Empty, timeout_s=30, max_attempts=1)
async def fail(ctx: JobContext, payload: Empty) -> None:
    """Fail for good."""
    raise PermanentFailure("this job always fails")


@handlers.handler("obs.slow_first", payload=Empty, timeout_s=120, max_attempts=3)
async def slow_first(ctx: JobContext, payload: Empty) -> dict[str, int]:
    """Hang on the first attempt (the test kills the worker meanwhile); succeed after."""
    if ctx.attempt == 1:
        await asyncio.sleep(110)
    return {"attempt": ctx.attempt}
