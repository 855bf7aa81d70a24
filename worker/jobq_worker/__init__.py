"""jobq's worker: handler registries, built-in handlers, and the worker process.

Write handlers in a module of your own, declaring its registry::

    from pydantic import BaseModel
    from jobq_worker import JobContext, Registry

    handlers = Registry()

    class Resize(BaseModel):
        image_url: str
        width: int

    @handlers.handler("images.resize", payload=Resize, queue="images", timeout_s=60, max_attempts=3)
    async def resize(ctx: JobContext, payload: Resize) -> dict:
        await ctx.progress(0.5, "downloaded")
        return {"ok": True}

and name the module in ``JOBQ_HANDLER_MODULES`` (``myapp.jobs``, or ``myapp.jobs:name``
for a registry not called ``handlers``).
"""

from .context import JobContext
from .errors import PermanentFailure, RetryLater
from .registry import Registry

__all__ = ["JobContext", "PermanentFailure", "Registry", "RetryLater"]
