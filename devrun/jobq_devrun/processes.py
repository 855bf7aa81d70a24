"""Waiting for worker processes to be up: each has registered its row (and its job types)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Sequence

import asyncpg

from jobq_core.errors import JobqError, UnavailableError
from jobq_core.pg.db import Q, unavailable_as_error


class WorkerExited(JobqError, RuntimeError):
    """A worker process exited before it registered."""


async def wait_for_workers(
    db: str | asyncpg.Pool, processes: Sequence[subprocess.Popen[bytes]], timeout_s: float = 60
) -> None:
    """Return once every process of `processes` has registered as a worker.

    `db` is a pool or a database URL. Raises :class:`WorkerExited` when one exits first
    and TimeoutError when they take longer than `timeout_s`.
    """
    pids = [p.pid for p in processes]
    pool = await asyncpg.create_pool(db, min_size=0, max_size=1) if isinstance(db, str) else db
    assert pool is not None
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if exited := [p for p in processes if p.poll() is not None]:
                raise WorkerExited(f"a worker exited with code {exited[0].returncode}")
            try:
                async with unavailable_as_error():
                    if await pool.fetchval(Q["count_registered_workers"], pids) >= len(pids):
                        return
            except UnavailableError:
                pass  # PostgreSQL is still starting: the workers wait for it too
            await asyncio.sleep(0.1)
        raise TimeoutError(f"the workers did not register within {timeout_s:.0f}s")
    finally:
        if isinstance(db, str):
            await pool.close()
