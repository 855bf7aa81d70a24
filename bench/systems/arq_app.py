"""The bench's ARQ app: one `WorkerSettings`, run by ARQ's own worker and by jobq's.

Written as an ARQ user writes one, with the JSON serializers jobq asks for (ARQ's default
is pickle, which jobq refuses) and ARQ's defaults otherwise (results kept an hour, five
tries). Its one function records its run as every bench job does (`common.Recorder`,
flushed to Redis through ``ctx['redis']``), so both workers are measured by the same code.

    python -m bench.systems.arq_app worker                       # ARQ's own worker (ARQ's venv)
    jobq-worker --arq bench.systems.arq_app.WorkerSettings       # the same app on jobq

The harness sets BENCH_REDIS_URL, BENCH_CONCURRENCY (``max_jobs``) and
BENCH_ARQ_POLL_DELAY_S (``poll_delay``), the same for both. ARQ's worker runs on uvloop,
as jobq's does, so the comparison is of the engines, not of the event loops.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from arq.connections import RedisSettings

from bench.systems import common

RECORDER = common.Recorder()
# ARQ's default poll_delay is 0.5 s; the bench's default is set in bench.harness.Settings.
POLL_DELAY_ENV = "BENCH_ARQ_POLL_DELAY_S"


def serialize(value: Any) -> bytes:
    """ARQ's job_serializer, in JSON."""
    return json.dumps(value).encode()


async def work(ctx: dict[str, Any], run: str, i: int) -> int:
    """The bench job: record that job `i` of scenario run `run` ran; return `i`."""
    RECORDER.add(run, i, time.time(), ctx["job_try"])
    return i


async def startup(ctx: dict[str, Any]) -> None:
    """Start shipping records, and tell the harness this worker is up."""
    ctx["bench_flusher"] = asyncio.create_task(RECORDER.flush_forever(ctx["redis"]))
    await ctx["redis"].set(f"{common.READY_PREFIX}{os.getpid()}", "1")


async def shutdown(ctx: dict[str, Any]) -> None:
    """Stop shipping records."""
    ctx["bench_flusher"].cancel()


class WorkerSettings:
    """The app, as `arq` and `jobq-worker --arq` take it."""

    functions = (work,)
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = RedisSettings.from_dsn(os.environ.get("BENCH_REDIS_URL", "redis://localhost:6379"))
    max_jobs = int(os.environ.get("BENCH_CONCURRENCY", "100"))
    poll_delay = float(os.environ.get(POLL_DELAY_ENV, "0.5"))
    job_serializer = serialize
    job_deserializer = json.loads


def worker() -> None:
    """Run the app on ARQ's own worker (``arq.worker.run_worker``, as the `arq` CLI does) until SIGTERM."""
    import uvloop
    from arq.worker import run_worker

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    run_worker(WorkerSettings)  # type: ignore[arg-type]


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["worker"]:
        raise SystemExit("usage: python -m bench.systems.arq_app worker")
    worker()
