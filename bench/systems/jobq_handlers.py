"""The bench's own jobq handlers, loaded by the workers with JOBQ_HANDLER_MODULES.

`bench.stamp` returns the time its handler started, stored as the job's result (the
pickup and load-latency scenarios read it back from PostgreSQL). `bench.flaky` fails
its first attempts and then succeeds (scenario 5), as the other systems' bench job does.
Throughput runs jobq's own `jobq.noop`.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict

from jobq_worker import JobContext, Registry

handlers = Registry()


class BenchPayload(BaseModel):
    """The job's index in its scenario, and how many attempts fail."""

    model_config = ConfigDict(extra="forbid")
    i: int
    fail_times: int = 0


class DeliberateFailure(Exception):
    """A flaky bench job failing on purpose."""


@handlers.handler("bench.stamp", payload=BenchPayload, timeout_s=30, max_attempts=3)
async def stamp(ctx: JobContext, payload: BenchPayload) -> dict[str, Any]:
    """Succeed, returning when the handler started."""
    return {"started": time.time()}


@handlers.handler("bench.flaky", payload=BenchPayload, timeout_s=30, max_attempts=3)
async def flaky(ctx: JobContext, payload: BenchPayload) -> dict[str, Any]:
    """Fail the first `fail_times` attempts, then succeed."""
    started = time.time()
    if ctx.attempt <= payload.fail_times:
        raise DeliberateFailure(f"attempt {ctx.attempt} fails on purpose")
    return {"started": started}
