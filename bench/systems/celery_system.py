"""Celery with the Redis broker: `apply_async`, a worker with the threads pool.

The threads pool keeps one worker *process* per worker (prefork would fork one process
per concurrency slot), so every system runs the same processes at the same concurrency.
Results are ignored (no result backend): no durable record, as raw ARQ.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from celery import Celery
from celery.signals import worker_ready

from bench.systems import common

app = Celery("bench", broker=os.environ.get("BENCH_REDIS_URL"))
app.conf.update(
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
RECORDER = common.Recorder()


@app.task(name="bench.work", bind=True, max_retries=common.FLAKY_FAILURES + 1)
def work(self: Any, run: str, i: int, flaky: bool) -> None:
    """The bench job: no-op, or fail the first attempts of a flaky one; record the finish."""
    started = time.time()
    attempt = self.request.retries + 1
    if common.fails_now(flaky, attempt):
        raise self.retry(countdown=0)
    RECORDER.add(run, i, started, attempt)


@worker_ready.connect
def _ready(**_: Any) -> None:
    RECORDER.start_thread(common.redis_url())
    common.mark_ready_sync(common.redis_url())


def worker() -> None:
    """Run one Celery worker process (threads pool) until SIGTERM."""
    app.worker_main(["worker", "--pool=threads", f"--concurrency={common.concurrency()}", "--loglevel=WARNING"])


class CeleryClient(common.RecordedClient):
    """Submits with `apply_async` (synchronous, as Celery's client is); reads records from Redis."""

    async def setup(self) -> None:
        """Connect (the broker connection opens on first publish; open it now)."""
        import redis.asyncio

        self.redis = redis.asyncio.Redis.from_url(common.redis_url())
        self.recs = common.RedisRecords(self.redis)
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=3)

    async def close(self) -> None:
        """Disconnect."""
        await self.redis.aclose()

    async def reset(self, scenario: str) -> None:
        """Drop old records."""
        await self.recs.reset()

    async def submit(self, i: int, kind: str) -> None:
        """One `apply_async` (blocks the loop for its duration: Celery's client is synchronous)."""
        work.apply_async(args=(self.recs.run, i, kind == "flaky"))

    async def submit_many(self, items: Sequence[tuple[int, str]]) -> None:
        """`apply_async` in a loop."""
        for i, kind in items:
            work.apply_async(args=(self.recs.run, i, kind == "flaky"))


if __name__ == "__main__":
    common.main(CeleryClient, worker)
