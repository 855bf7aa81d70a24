"""Nothing lost, nothing stuck: crashes, leader loss, graceful shutdown, Redis losing data.

Every test runs real worker processes; `test.record` (tests/support/handlers.py) writes
one row per completed attempt, so "exactly once" is counted, not assumed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from tests.conftest import Servers
from tests.integration.conftest import wait_for_status
from tests.support.cluster import Cluster, pid_alive
from tests.support.handlers import SIDE_EFFECTS_DDL
from tests.support.wait import until

WORKER_TIMEOUT_S = 3


@pytest.fixture
async def side_effects(db: asyncpg.Pool) -> asyncpg.Pool:
    """The side-effect table, empty."""
    await db.execute(SIDE_EFFECTS_DDL)
    await db.execute("TRUNCATE test_side_effects")
    return db


@pytest.fixture
async def cluster(servers: Servers, side_effects: asyncpg.Pool, tmp_path: Path) -> AsyncIterator[Cluster]:
    """Workers that declare a silent peer gone after 3 s; all must stop cleanly unless killed."""
    c = Cluster(
        servers.database_url, servers.redis_url, side_effects, tmp_path, JOBQ_WORKER_TIMEOUT_S=str(WORKER_TIMEOUT_S)
    )
    yield c
    codes = c.stop_all()
    assert codes == [0] * len(codes), "a worker did not stop cleanly:\n" + c.logs()


async def submit(api: httpx.AsyncClient, auth: dict[str, str], **job: Any) -> dict[str, Any]:
    response = await api.post("/v1/jobs", json=job, headers=auth)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def submit_many(api: httpx.AsyncClient, auth: dict[str, str], count: int, **job: Any) -> list[str]:
    ids: list[str] = []
    for start in range(0, count, 1000):
        body = {"jobs": [dict(job) for _ in range(min(1000, count - start))]}
        response = await api.post("/v1/jobs/batch", json=body, headers=auth)
        assert response.status_code == 201, response.text
        ids += [j["id"] for j in response.json()["jobs"]]
    return ids


async def wait_all_succeeded(db: asyncpg.Pool, count: int, timeout_s: float, cluster: Cluster) -> None:
    async def done() -> bool:
        finished = await db.fetchval("SELECT count(*) FROM jobq_jobs WHERE status = 'succeeded'")
        return bool(finished >= count)

    try:
        await until(done, timeout_s=timeout_s, every_s=0.2, what=f"{count} jobs to succeed")
    except AssertionError:
        states = await db.fetch("SELECT status, count(*) FROM jobq_jobs GROUP BY status")
        raise AssertionError(f"jobs by status: {[tuple(r) for r in states]}\n{cluster.logs()}") from None


async def side_effects_per_job(db: asyncpg.Pool) -> dict[str, int]:
    rows = await db.fetch("SELECT job_id::text AS job_id, count(*) AS n FROM test_side_effects GROUP BY job_id")
    return {r["job_id"]: r["n"] for r in rows}


async def test_a_job_on_a_killed_worker_runs_again_on_another_within_the_timeout(
    api: httpx.AsyncClient, auth: dict[str, str], cluster: Cluster, db: asyncpg.Pool
) -> None:
    await cluster.start_worker()
    await cluster.start_worker()
    job = await submit(api, auth, type="test.record", payload={"sleep_s": 30})
    await wait_for_status(api, auth, job["id"], {"running"})
    victim = cluster.by_pid(await cluster.pid_running(job["id"]))
    victim_id = await db.fetchval("SELECT worker_id FROM jobq_jobs WHERE id = $1::uuid", job["id"])
    await db.execute("UPDATE jobq_jobs SET payload = '{\"sleep_s\": 0}' WHERE id = $1::uuid", job["id"])

    cluster.kill(victim)
    done = await wait_for_status(api, auth, job["id"], {"succeeded", "dead"}, timeout_s=WORKER_TIMEOUT_S + 12)

    assert done["status"] == "succeeded"
    assert done["attempts"] == 2
    assert [(a["attempt"], a["outcome"]) for a in done["history"]] == [(1, "lost"), (2, "succeeded")]
    assert done["history"][0]["error"]["type"] == "WorkerLost"
    assert await side_effects_per_job(db) == {job["id"]: 1}
    gone = await db.fetchrow("SELECT stopped_at FROM jobq_workers WHERE id = $1", victim_id)
    assert gone["stopped_at"] is not None, "the killed worker was not marked gone"


async def test_a_job_whose_last_attempt_was_lost_is_dead(
    api: httpx.AsyncClient, auth: dict[str, str], cluster: Cluster
) -> None:
    await cluster.start_worker()
    await cluster.start_worker()
    job = await submit(api, auth, type="test.record", payload={"sleep_s": 30}, max_attempts=1)
    await wait_for_status(api, auth, job["id"], {"running"})
    victim = cluster.by_pid(await cluster.pid_running(job["id"]))

    cluster.kill(victim)
    dead = await wait_for_status(api, auth, job["id"], {"dead", "succeeded", "queued"}, timeout_s=WORKER_TIMEOUT_S + 12)

    assert dead["status"] == "dead"
    assert dead["error"]["type"] == "WorkerLost"
    assert [a["outcome"] for a in dead["history"]] == ["lost"]


CAMPAIGN_QUERY = "SELECT pg_try_advisory_lock($1)"


async def test_a_standby_asks_for_the_lock_on_one_kept_connection(cluster: Cluster, db: asyncpg.Pool) -> None:
    await cluster.start_worker()
    await cluster.start_worker()
    await cluster.leader_pid()

    async def campaign_backends() -> set[int]:
        rows = await db.fetch("SELECT pid FROM pg_stat_activity WHERE query = $1 AND state = 'idle'", CAMPAIGN_QUERY)
        return {r["pid"] for r in rows}

    first = await until(campaign_backends, what="the standby's campaign connection")
    await asyncio.sleep(3.5)  # three more asks, one a second

    assert await campaign_backends() == first, "a standby connected anew to ask for the lock"


async def test_when_the_leader_dies_another_takes_over_and_the_duties_go_on(
    api: httpx.AsyncClient, auth: dict[str, str], cluster: Cluster, db: asyncpg.Pool
) -> None:
    for _ in range(3):
        await cluster.start_worker()
    old_leader = await cluster.leader_pid()

    cluster.kill(cluster.by_pid(old_leader))
    new_leader = await cluster.leader_pid(timeout_s=10)

    assert new_leader != old_leader and pid_alive(new_leader)
    # Promotion: a delayed job runs on time.
    delayed = await submit(api, auth, type="test.record", delay_s=1)
    # Relay: a job inserted straight into PostgreSQL (never sent to Redis) runs.
    inserted = await db.fetchval(
        "INSERT INTO jobq_jobs (id, type, queue, status, payload, max_attempts, timeout_s, run_at)"
        " VALUES (gen_random_uuid(), 'test.record', 'default', 'queued', '{}', 3, 30, now()) RETURNING id::text"
    )
    for job_id in (delayed["id"], inserted):
        done = await wait_for_status(api, auth, job_id, {"succeeded", "dead"})
        assert done["status"] == "succeeded"


async def test_sigterm_lets_a_running_job_finish_within_the_drain_time(
    api: httpx.AsyncClient, auth: dict[str, str], cluster: Cluster, db: asyncpg.Pool
) -> None:
    worker = await cluster.start_worker(JOBQ_DRAIN_S="10")
    job = await submit(api, auth, type="test.record", payload={"sleep_s": 3})
    await wait_for_status(api, auth, job["id"], {"running"})

    assert worker.stop() == 0

    done = (await api.get(f"/v1/jobs/{job['id']}", headers=auth)).json()
    assert (done["status"], done["attempts"]) == ("succeeded", 1)
    assert await side_effects_per_job(db) == {job["id"]: 1}


async def test_sigterm_hands_back_a_job_longer_than_the_drain_without_counting_the_attempt(
    api: httpx.AsyncClient, auth: dict[str, str], cluster: Cluster, db: asyncpg.Pool
) -> None:
    worker = await cluster.start_worker(JOBQ_DRAIN_S="1")
    job = await submit(api, auth, type="test.record", payload={"sleep_s": 4})
    await wait_for_status(api, auth, job["id"], {"running"})

    assert worker.stop() == 0
    handed_back = (await api.get(f"/v1/jobs/{job['id']}", headers=auth)).json()
    assert (handed_back["status"], handed_back["attempts"]) == ("queued", 0)

    await cluster.start_worker()
    done = await wait_for_status(api, auth, job["id"], {"succeeded", "dead"})
    assert (done["status"], done["attempts"]) == ("succeeded", 1)
    assert await side_effects_per_job(db) == {job["id"]: 1}


@pytest.mark.parametrize("how", ["flushall", "restart"])
async def test_2000_jobs_in_flight_survive_redis_losing_its_data_each_run_once(
    how: str, servers: Servers, side_effects: asyncpg.Pool, tmp_path: Path, db: asyncpg.Pool
) -> None:
    from jobq_devrun.servers import start_redis

    from tests.integration.conftest import _client, api_settings

    redis_server = start_redis(tmp_path / "redis", durable=False)
    cluster = Cluster(servers.database_url, redis_server.url, side_effects, tmp_path, JOBQ_CONCURRENCY="20")
    try:
        await cluster.start_worker()
        await cluster.start_worker()
        async for api in _client(api_settings(servers, redis_url=redis_server.url)):
            from jobq_core.pg import apikeys

            key = await apikeys.create(db, "t", [apikeys.Scope.ADMIN])
            ids = await submit_many(api, {"Authorization": f"Bearer {key}"}, 2000, type="test.record")

        async def some_done() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM jobq_jobs WHERE status = 'succeeded'") >= 200)

        await until(some_done, timeout_s=60, what="the first 200 jobs")
        if how == "flushall":
            client = aioredis.Redis.from_url(redis_server.url)
            await client.flushall()
            await client.aclose()
        else:
            redis_server.stop()
            redis_server = start_redis(tmp_path / "redis", port=redis_server.port, durable=False)

        await wait_all_succeeded(db, 2000, timeout_s=180, cluster=cluster)
        effects = await side_effects_per_job(db)
        assert sorted(effects) == sorted(ids)
        assert set(effects.values()) == {1}, "a job's side effect happened twice"
        assert cluster.alive() == cluster.workers, "a worker exited"
    finally:
        codes = cluster.stop_all()
        redis_server.stop()
    assert codes == [0, 0], cluster.logs()
