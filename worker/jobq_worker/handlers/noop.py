"""`jobq.noop`: a job that does nothing and succeeds.

Always registered: `helm test` and the benchmarks submit it to prove the whole path
(API, PostgreSQL, Redis, a worker) works, and it cannot hold a slot for long.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ..context import JobContext
from ..registry import Registry

handlers = Registry()


class NoopPayload(BaseModel):
    """Anything; it is ignored."""

    model_config = ConfigDict(extra="allow")


@handlers.handler("jobq.noop", payload=NoopPayload, timeout_s=30, max_attempts=3)
async def noop(ctx: JobContext, payload: NoopPayload) -> None:
    """Do nothing and succeed."""
