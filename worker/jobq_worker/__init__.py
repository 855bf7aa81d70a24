"""jobq's worker: the handler registry, built-in handlers, and the worker process.

Write a handler::

    from pydantic import BaseModel
    from jobq_worker import handler, JobContext

    class Resize(BaseModel):
        image_url: str
        width: int

    @handler("images.resize", payload=Resize, queue="images", timeout_s=60, max_attempts=3)
    async def resize(ctx: JobContext, payload: Resize) -> dict:
        await ctx.progress(0.5, "downloaded")
        return {"ok": True}
"""

from .context import JobContext
from .errors import PermanentFailure, RetryLater
from .registry import handler

__all__ = ["JobContext", "PermanentFailure", "RetryLater", "handler"]
