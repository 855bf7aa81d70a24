"""What the autoscaler reads from PostgreSQL (jobq_core.pg.queue_state): "ready" is runnable now."""

from __future__ import annotations

import asyncpg
import pytest

from jobq_core.dispatch.channel import DispatchChannel
from jobq_core.errors import DatabaseUnavailable, RedisUnavailable
from jobq_core.pg.queue_state import queue_state, worker_load
from tests.conftest import Servers


async def add_jobs(db: asyncpg.Pool, count: int, status: str, *, queue: str = "default", run_in_s: float = 0) -> None:
    await db.execute(
        "INSERT INTO jobq_jobs (id, type, queue, status, payload, max_attempts, timeout_s, run_at, created_at)"
        " SELECT gen_random_uuid(), 'jobq.sleep', $2, $3, '{}', 3, 60,"
        " now() + make_interval(secs => $4), now() - interval '1 hour' FROM generate_series(1, $1)",
        count,
        queue,
        status,
        run_in_s,
    )


async def test_ready_counts_due_waiting_jobs_only(db: asyncpg.Pool) -> None:
    await add_jobs(db, 7, "queued", run_in_s=-20)
    await add_jobs(db, 2, "scheduled", run_in_s=-5)  # due, not yet promoted by a leader
    await add_jobs(db, 4, "scheduled", run_in_s=600)  # deferred: a retry back-off or a delay
    await add_jobs(db, 3, "running")
    await add_jobs(db, 5, "succeeded")
    await add_jobs(db, 11, "queued", queue="other")
    await add_jobs(db, 6, "queued", queue="held")
    await db.execute("INSERT INTO jobq_queues (name, paused) VALUES ('held', true)")

    state = await queue_state(db, ["default"], 60)
    assert (state.ready, state.running, state.scheduled) == (9, 3, 4)
    assert 19 <= state.oldest_ready_age_s < 30
    both = await queue_state(db, ["default", "other", "held"], 60)
    assert both.ready == 20  # the paused queue's jobs wait for nobody


async def test_rates_and_mean_duration_come_from_the_window(db: asyncpg.Pool) -> None:
    await db.execute(
        "INSERT INTO jobq_jobs (id, type, queue, status, payload, max_attempts, timeout_s, run_at,"
        " started_at, finished_at) SELECT gen_random_uuid(), 'jobq.sleep', 'default', 'succeeded', '{}', 3, 60,"
        " now(), now() - interval '2 seconds', now() FROM generate_series(1, 30)"
    )
    await add_jobs(db, 10, "succeeded")  # created an hour ago, never finished in the window

    state = await queue_state(db, ["default"], 10)
    assert state.completion_rate == pytest.approx(3.0)
    assert state.arrival_rate == pytest.approx(3.0)
    assert state.mean_duration_s == pytest.approx(2.0, abs=0.01)
    empty = await queue_state(db, ["nothing-here"], 10)
    assert (empty.ready, empty.running, empty.oldest_ready_age_s, empty.mean_duration_s) == (0, 0, 0.0, None)
    assert empty.observation(at=1.0).empty


async def test_a_due_cron_schedule_is_work_waiting(db: asyncpg.Pool) -> None:
    await db.execute(
        "INSERT INTO jobq_schedules (id, name, cron, timezone, job, missed, next_run_at)"
        " VALUES (gen_random_uuid(), 'nightly', '0 3 * * *', 'UTC', $1, 'skip', now() - interval '1 minute')",
        {"type": "jobq.noop", "queue": "default"},
    )
    assert (await queue_state(db, ["default"], 60)).ready == 1
    assert (await queue_state(db, ["other"], 60)).ready == 0


async def test_worker_load_counts_running_jobs_per_host(db: asyncpg.Pool) -> None:
    for worker_id, host in [("a-1", "pod-a"), ("b-1", "pod-b"), ("gone-1", "pod-gone")]:
        await db.execute(
            "INSERT INTO jobq_workers (id, hostname, pid, queues, job_types, concurrency, version)"
            " VALUES ($1, $2, 1, '{default}', '{}', 10, 'test')",
            worker_id,
            host,
        )
    await db.execute("UPDATE jobq_workers SET heartbeat_at = now() - interval '5 minutes' WHERE id = 'gone-1'")
    await add_jobs(db, 2, "running")
    await db.execute("UPDATE jobq_jobs SET worker_id = 'a-1' WHERE status = 'running'")

    loads = {w.hostname: w.running for w in await worker_load(db, 30)}
    assert loads == {"pod-a": 2, "pod-b": 0}


async def test_outages_raise_the_unavailable_errors(servers: Servers) -> None:
    from jobq_devrun.servers import free_port

    from jobq_core.pg.db import create_pool

    dead_db = await create_pool(f"postgresql://jobq@127.0.0.1:{free_port()}/jobq", size=1)
    try:
        with pytest.raises(DatabaseUnavailable):
            await queue_state(dead_db, ["default"], 60)
    finally:
        await dead_db.close()
    dead_redis = DispatchChannel.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(RedisUnavailable):
            await dead_redis.ping()
    finally:
        await dead_redis.close()
