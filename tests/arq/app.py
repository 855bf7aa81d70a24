"""An ARQ app written the way ARQ's documentation writes one, run by the tests on jobq.

It is ARQ's own example (``download_content`` with a shared HTTP session made in
``on_startup``) plus what the migration guide promises: positional and keyword
arguments, a cron job every second, ``Retry(defer=...)``, and a follow-up job enqueued
through ``ctx['redis']``. Nothing in it knows about jobq except the JSON serializers
(ARQ's default is pickle, which jobq refuses). The README's "Coming from ARQ" shows it.
"""

import json
import os

from arq import Retry, cron
from arq.connections import RedisSettings
from arq.worker import func
from httpx import AsyncClient


def serialize(value):
    return json.dumps(value).encode()


async def download_content(ctx, url):
    session: AsyncClient = ctx["session"]
    response = await session.get(url)
    return len(response.text)


async def add(ctx, a, b, *, times=1):
    return (a + b) * times


async def flaky(ctx, name):
    if ctx["job_try"] < 3:
        raise Retry(defer=1)
    return f"{name} after {ctx['job_try']} tries"


async def boom(ctx):
    raise ValueError("boom")


async def slow(ctx, seconds):
    import asyncio

    await asyncio.sleep(seconds)
    return "slept"


async def signup(ctx, email):
    follow_up = await ctx["redis"].enqueue_job("welcome", email, _job_id=f"welcome:{email}")
    return {"welcome_job": follow_up.job_id if follow_up else None}


async def welcome(ctx, email):
    return f"welcome, {email}"


async def tick(ctx):
    await ctx["redis"].rpush("test:ticks", ctx["job_id"])


async def startup(ctx):
    ctx["session"] = AsyncClient()


async def shutdown(ctx):
    await ctx["session"].aclose()


class WorkerSettings:
    functions = [download_content, add, flaky, boom, signup, welcome, func(slow, timeout=60, keep_result=30)]
    cron_jobs = [cron(tick, second=None, run_at_startup=False)]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = RedisSettings.from_dsn(os.environ.get("APP_REDIS_URL", "redis://localhost:6379"))
    job_serializer = serialize
    job_deserializer = json.loads
    allow_abort_jobs = True
    poll_delay = 0.05
