"""SAQ with its Redis queue: `Queue.enqueue`, a worker whose dequeue blocks (no polling)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from saq import Queue, Worker

from bench.systems import common

RECORDER = common.Recorder()
RETRIES = common.FLAKY_FAILURES + 1  # SAQ counts attempts, the first included


async def work(ctx: dict[str, Any], *, run: str, i: int, flaky: bool) -> None:
    """The bench job: no-op, or fail the first attempts of a flaky one; record the finish."""
    started = time.time()
    attempt = ctx["job"].attempts
    if common.fails_now(flaky, attempt):
        raise RuntimeError("failing on purpose")
    RECORDER.add(run, i, started, attempt)


async def _startup(ctx: dict[str, Any]) -> None:
    redis = ctx["worker"].queue.redis
    ctx["flusher"] = asyncio.create_task(RECORDER.flush_forever(redis))
    await redis.set(f"{common.READY_PREFIX}{os.getpid()}", "1")


async def _serve() -> None:
    queue = Queue.from_url(common.redis_url())
    await queue.connect()
    w = Worker(queue, functions=[work], concurrency=common.concurrency(), startup=_startup)
    await w.start()  # handles SIGTERM/SIGINT itself


def worker() -> None:
    """Run one SAQ worker process until SIGTERM."""
    common.run_async(_serve())


class SaqClient(common.RecordedClient):
    """Submits with `Queue.enqueue`; reads records from Redis."""

    async def setup(self) -> None:
        """Connect."""
        self.queue = Queue.from_url(common.redis_url())
        await self.queue.connect()
        self.recs = common.RedisRecords(self.queue.redis)

    async def close(self) -> None:
        """Disconnect."""
        await self.queue.disconnect()

    async def reset(self, scenario: str) -> None:
        """Drop old records."""
        await self.recs.reset()

    async def submit(self, i: int, kind: str) -> None:
        """One `Queue.enqueue`."""
        await self.queue.enqueue("work", run=self.recs.run, i=i, flaky=kind == "flaky", retries=RETRIES)


if __name__ == "__main__":
    common.main(SaqClient, worker)
