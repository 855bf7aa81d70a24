"""The built-in job types (demo handlers included) registered as a worker registers them."""

from __future__ import annotations

import asyncpg

from jobq_core.pg import jobtypes
from jobq_worker.handlers import builtin
from jobq_worker.registry import compose


async def register_builtin_types(db: asyncpg.Pool) -> None:
    """Record the job types of the built-in handlers, with the demo ones, as a test worker would."""
    registry = compose(builtin(demo_handlers=True))
    await jobtypes.register(db, [spec.job_type() for spec in registry.all()])
