"""Raw ARQ: `enqueue_job` straight into Redis, a worker with max_jobs and poll_delay tuned.

No durable record: results are not kept (keep_result=0), as jobq's own use of ARQ.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

from arq import Retry, Worker, create_pool
from arq.connections import RedisSettings

from bench.systems import common

POLL_DELAY_S = 0.01
RECORDER = common.Recorder()


async def work(ctx: dict[str, Any], run: str, i: int, flaky: bool) -> None:
    """The bench job: no-op, or fail the first attempts of a flaky one; record the finish."""
    started = time.time()
    attempt = ctx["job_try"]
    if common.fails_now(flaky, attempt):
        raise Retry(defer=0)
    RECORDER.add(run, i, started, attempt)


async def _startup(ctx: dict[str, Any]) -> None:
    ctx["flusher"] = asyncio.create_task(RECORDER.flush_forever(ctx["redis"]))
    await ctx["redis"].set(f"{common.READY_PREFIX}{os.getpid()}", "1")


async def _serve() -> None:
    worker = Worker(
        functions=[work],
        redis_settings=RedisSettings.from_dsn(common.redis_url()),
        max_jobs=common.concurrency(),
        poll_delay=POLL_DELAY_S,
        keep_result=0,
        on_startup=_startup,
        handle_signals=False,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    main = asyncio.create_task(worker.async_run())
    await stop.wait()
    main.cancel()
    await asyncio.gather(main, return_exceptions=True)
    await worker.close()


def worker() -> None:
    """Run one ARQ worker process until SIGTERM."""
    common.run_async(_serve())


class ArqClient(common.RecordedClient):
    """Submits with `ArqRedis.enqueue_job`; reads records from Redis."""

    async def setup(self) -> None:
        """Connect."""
        self.pool = await create_pool(RedisSettings.from_dsn(common.redis_url()))
        self.recs = common.RedisRecords(self.pool)

    async def close(self) -> None:
        """Disconnect."""
        await self.pool.aclose()

    async def reset(self, scenario: str) -> None:
        """Drop old records."""
        await self.recs.reset()

    async def submit(self, i: int, kind: str) -> None:
        """One `enqueue_job`."""
        await self.pool.enqueue_job("work", self.recs.run, i, kind == "flaky")


if __name__ == "__main__":
    common.main(ArqClient, worker)
