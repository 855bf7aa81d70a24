"""The dispatch relay: queued jobs Redis does not hold are sent again, those put to wait
since the last sweep every `relay_sweep_s`, every one every `relay_full_sweep_s`."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg
import redis.asyncio as aioredis

from jobq_worker.duties import Duties
from tests.integration.api_helpers import queued_messages
from tests.integration.conftest import StartWorker
from tests.support.wait import until

# Straight into PostgreSQL, as if a submit's dispatch to Redis had been lost.
INSERT_QUEUED = (
    "INSERT INTO jobq_jobs (id, type, queue, status, payload, max_attempts, timeout_s, run_at)"
    " SELECT gen_random_uuid(), 'jobq.noop', $1, 'queued', '{}', 1, 30, now() - make_interval(secs => $2)"
    " FROM generate_series(1, $3) RETURNING id::text"
)


async def held_ids(redis_client: aioredis.Redis, queue: str = "default") -> set[str]:
    return {m.split(":")[0] for m in await queued_messages(redis_client, f"jobq:queue:{queue}")}


async def test_a_sweep_from_a_time_sends_only_the_jobs_put_to_wait_since_and_a_full_one_sends_all(
    duties: Duties, db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    old = await db.fetch(INSERT_QUEUED, "default", 3_600.0, 1_205)  # more than a page of the sweep
    recent = await db.fetch(INSERT_QUEUED, "default", 1.0, 3)
    now: datetime = await db.fetchval("SELECT now()")

    began = await duties.relay(now - timedelta(minutes=5))

    assert await held_ids(redis_client) == {r["id"] for r in recent}
    assert now <= began <= await db.fetchval("SELECT now()")
    await duties.relay()  # every queued job
    assert await held_ids(redis_client) == {r["id"] for r in [*old, *recent]}


async def test_the_leader_sends_again_a_message_redis_lost_long_after_its_job_was_queued(
    start_worker: StartWorker, db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    # A paused queue: the worker leaves its jobs waiting, so Redis's copy can be checked.
    await db.execute("INSERT INTO jobq_queues (name, paused) VALUES ('held', true)")
    await start_worker(JOBQ_QUEUES="held", JOBQ_RELAY_SWEEP_S="0.5", JOBQ_RELAY_FULL_SWEEP_S="4")
    [job] = await db.fetch(INSERT_QUEUED, "held", 0.0, 1)

    async def held() -> bool:
        return job["id"] in await held_ids(redis_client, "held")

    await until(held, timeout_s=10, what="the new job's notification to bring a sweep")
    # An hour later, Redis loses the message alone (its data as a whole survives: no
    # emptied marker).
    await db.execute("UPDATE jobq_jobs SET run_at = now() - interval '1 hour' WHERE id = $1::uuid", job["id"])
    await redis_client.zrem("jobq:queue:held", f"{job['id']}:1")
    await redis_client.delete(f"arq:job:{job['id']}:1")
    assert not await held()
    # The sweeps every half second read only what arrived since; the full one, within
    # its 4 s, finds the old job missing.
    await until(held, timeout_s=15, what="a full sweep to send the lost message again")
