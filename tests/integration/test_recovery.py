"""Nothing lost, nothing stuck: crashes, leader loss, graceful shutdown, Redis losing data.

Every test runs real worker processes; `test.record` (tests/support/handlers.py) writes
one row per completed attempt, so "exactly once" is counted, not assumed.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from jobq_devrun.servers import free_port

from jobq_core import names
from tests.conftest import Servers
from tests.integration.api_helpers import submit
from tests.integration.conftest import wait_for_status
from tests.support.cluster import Cluster, pid_alive
from tests.support.handlers import side_effects_per_job
from tests.support.wait import until

WORKER_TIMEOUT_S = 3
HEARTBEAT_S = 1  # tests.support.processes.service_env's JOBQ_HEARTBEAT_INTERVAL_S
# "Plus a few seconds" (README, Guarantees): the heartbeat interval, the leader's rescue
# interval (1 s), and the take of the rescued job.
FEW_S = 2.5


@pytest.fixture
async def cluster(servers: Servers, side_effects: asyncpg.Pool, tmp_path: Path) -> AsyncIterator[Cluster]:
    """Workers that declare a silent peer gone after 3 s; all must stop cleanly unless killed."""
    c = Cluster(
        servers.database_url, servers.redis_url, side_effects, tmp_path, JOBQ_WORKER_TIMEOUT_S=str(WORKER_TIMEOUT_S)
    )
    yield c
    codes = c.stop_all()
    assert codes == [0] * len(codes), "a worker did not stop cleanly:\n" + c.logs()


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


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def assert_rerun_in_time(killed_at: datetime, job: dict[str, Any], within_s: float) -> None:
    """The job's second attempt started `within_s` plus a few seconds after the kill, and
    not before its worker's heartbeat could have gone stale (the timeout did it)."""
    rerun_after_s = (at(job["history"][1]["started_at"]) - killed_at).total_seconds()
    assert within_s - HEARTBEAT_S <= rerun_after_s < within_s + FEW_S, f"ran again {rerun_after_s:.2f}s after the kill"


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

    killed_at = datetime.now(UTC)
    cluster.kill(victim)
    done = await wait_for_status(api, auth, job["id"], {"succeeded", "dead"}, timeout_s=WORKER_TIMEOUT_S + 12)

    assert done["status"] == "succeeded"
    assert done["attempts"] == 2
    assert [(a["attempt"], a["outcome"]) for a in done["history"]] == [(1, "lost"), (2, "succeeded")]
    assert done["history"][0]["error"]["type"] == "WorkerLost"
    assert_rerun_in_time(killed_at, done, WORKER_TIMEOUT_S)
    assert await side_effects_per_job(db) == {job["id"]: 1}
    # The handler saw that it ran as attempt 2 (ctx.attempt), to make a repeat harmless.
    assert await db.fetchval("SELECT attempt FROM test_side_effects WHERE job_id = $1::uuid", job["id"]) == 2
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

    killed_at = datetime.now(UTC)
    cluster.kill(victim)
    dead = await wait_for_status(api, auth, job["id"], {"dead", "succeeded", "queued"}, timeout_s=WORKER_TIMEOUT_S + 12)

    lost_after_s = (at(dead["finished_at"]) - killed_at).total_seconds()
    assert WORKER_TIMEOUT_S - HEARTBEAT_S <= lost_after_s < WORKER_TIMEOUT_S + FEW_S, f"dead {lost_after_s:.2f}s on"

    assert dead["status"] == "dead"
    assert dead["error"]["type"] == "WorkerLost"
    assert [a["outcome"] for a in dead["history"]] == ["lost"]


CAMPAIGN_QUERY = "SELECT pg_try_advisory_lock($1)"


async def test_a_standby_asks_for_the_lock_once_a_second_on_one_kept_connection(
    cluster: Cluster, db: asyncpg.Pool
) -> None:
    await cluster.start_worker()
    await cluster.start_worker()
    await cluster.leader_pid()

    async def campaigns() -> dict[int, datetime]:
        """The standby's campaign backends and when each last asked."""
        rows = await db.fetch("SELECT pid, query_start FROM pg_stat_activity WHERE query = $1", CAMPAIGN_QUERY)
        return {r["pid"]: r["query_start"] for r in rows}

    first = await until(campaigns, what="the standby's campaign connection")
    asks: set[datetime] = set()
    deadline = asyncio.get_running_loop().time() + 4.5
    while asyncio.get_running_loop().time() < deadline:
        seen = await campaigns()
        assert seen.keys() == first.keys(), "a standby connected anew to ask for the lock"
        asks |= set(seen.values())
        await asyncio.sleep(0.05)

    times = sorted(asks)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert len(gaps) >= 3, f"asks at {times}"
    assert all(0.9 <= gap < 1.5 for gap in gaps), f"gaps between asks: {gaps}"


async def test_when_the_leader_dies_another_takes_over_and_the_duties_go_on(
    api: httpx.AsyncClient, auth: dict[str, str], cluster: Cluster, db: asyncpg.Pool
) -> None:
    """The new leader is elected within about a second, and rescues (after watching
    heartbeats for a full timeout), promotes and relays."""
    leader = await cluster.start_worker()
    await cluster.leader_pid()
    # A job on the leader alone, so killing the leader also leaves a job to rescue.
    orphan = await submit(api, auth, type="test.record", payload={"sleep_s": 30})
    await wait_for_status(api, auth, orphan["id"], {"running"})
    await db.execute("UPDATE jobq_jobs SET payload = '{\"sleep_s\": 0}' WHERE id = $1::uuid", orphan["id"])
    for _ in range(2):
        await cluster.start_worker()

    killed_at = datetime.now(UTC)
    cluster.kill(leader)
    new_leader = await cluster.leader_pid(timeout_s=10)

    assert new_leader != leader.process.pid and pid_alive(new_leader)
    elected_at = await db.fetchval("SELECT leader_since FROM jobq_workers WHERE pid = $1", new_leader)
    took_over_s = (elected_at - killed_at).total_seconds()
    assert 0 < took_over_s < 1.5, f"a new leader after {took_over_s:.2f}s"
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
    # Rescue: the dead leader's job runs again, a full timeout after the election at the earliest.
    rescued = await wait_for_status(api, auth, orphan["id"], {"succeeded", "dead"}, timeout_s=WORKER_TIMEOUT_S + 12)
    assert [a["outcome"] for a in rescued["history"]] == ["lost", "succeeded"]
    assert_rerun_in_time(killed_at, rescued, took_over_s + WORKER_TIMEOUT_S)
    assert await side_effects_per_job(db) == {delayed["id"]: 1, inserted: 1, orphan["id"]: 1}


async def test_sigterm_lets_a_running_job_finish_within_the_drain_time(
    api: httpx.AsyncClient, auth: dict[str, str], cluster: Cluster, db: asyncpg.Pool
) -> None:
    metrics_port = free_port()
    worker = await cluster.start_worker(JOBQ_DRAIN_S="10", JOBQ_WORKER_METRICS_PORT=str(metrics_port))
    job = await submit(api, auth, type="test.record", payload={"sleep_s": 3})
    await wait_for_status(api, auth, job["id"], {"running"})

    worker.process.send_signal(signal.SIGTERM)
    # Draining is not capacity: /readyz says so while the running job finishes.
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{metrics_port}", timeout=2) as probe:

        async def unready() -> bool:
            return (await probe.get("/readyz")).status_code == 503

        await until(unready, timeout_s=2, what="the draining worker's /readyz to answer 503")
        assert (await probe.get("/readyz")).json()["draining"] is True
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
            ids = await submit_many(
                api, {"Authorization": f"Bearer {key}"}, 2000, type="test.record", payload={"sleep_s": 0.02}
            )

        async def some_done() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM jobq_jobs WHERE status = 'succeeded'") >= 200)

        await until(some_done, timeout_s=60, what="the first 200 jobs")
        redis = aioredis.Redis.from_url(redis_server.url)
        unfinished = await db.fetchval("SELECT count(*) FROM jobq_jobs WHERE status <> 'succeeded'")
        messages = await redis.zcard(names.redis_queue_key("default"))
        await redis.aclose()
        # Work in flight when Redis loses it: most jobs not yet run, their messages in Redis.
        assert unfinished >= 1000 and messages >= 500, (unfinished, messages)
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


async def test_a_postgres_outage_longer_than_the_worker_timeout_rescues_no_healthy_workers_job(
    servers: Servers, tmp_path: Path
) -> None:
    """After PostgreSQL is back, every heartbeat is older than the timeout; the (new)
    leader watches them for a full timeout before judging, so the running job stays
    with its live worker, runs once, and no worker is declared gone.

    The worker that does not lead is frozen (SIGSTOP) from just before PostgreSQL
    returns until a second after the leader is elected again: its heartbeat is then
    surely stale when the new leader first looks, and only the leader's watch keeps it
    from being declared gone (without the freeze, its heartbeat often comes first and
    the test could not tell a leader that judges at once)."""
    from jobq_devrun.servers import start_postgres

    from jobq_core.pg import apikeys
    from jobq_core.pg.migrate import migrate_url
    from tests.integration.conftest import _client, api_settings
    from tests.support.handlers import SIDE_EFFECTS_DDL

    postgres = start_postgres(tmp_path / "pg", durable=False)
    await migrate_url(postgres.url)
    pool = await asyncpg.create_pool(postgres.url, min_size=0, max_size=4)  # reconnects after the outage
    await pool.execute(SIDE_EFFECTS_DDL)
    cluster = Cluster(postgres.url, servers.redis_url, pool, tmp_path, JOBQ_WORKER_TIMEOUT_S=str(WORKER_TIMEOUT_S))
    try:
        await cluster.start_worker()
        await cluster.start_worker()
        leader = await cluster.leader_pid()
        frozen = next(w for w in cluster.workers if w.process.pid != leader)
        auth = {"Authorization": f"Bearer {await apikeys.create(pool, 't', [apikeys.Scope.ADMIN])}"}
        async for api in _client(api_settings(servers, database_url=postgres.url)):
            job = await submit(api, auth, type="test.record", payload={"sleep_s": 4 * WORKER_TIMEOUT_S})
            await wait_for_status(api, auth, job["id"], {"running"})

            elected_before = await pool.fetchval("SELECT max(leader_since) FROM jobq_workers")
            postgres.stop()
            await asyncio.sleep(2 * WORKER_TIMEOUT_S)  # the outage itself, twice the timeout
            os.kill(frozen.process.pid, signal.SIGSTOP)
            try:
                postgres = start_postgres(postgres.data_dir, port=postgres.port, durable=False)

                async def elected_again(before: datetime = elected_before) -> bool:
                    try:
                        since = await pool.fetchval("SELECT max(leader_since) FROM jobq_workers")
                    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                        return False
                    return bool(since > before)

                await until(elected_again, timeout_s=20, what="the leader to be elected again")
                await asyncio.sleep(1.0)  # well within the new leader's watch of WORKER_TIMEOUT_S
            finally:
                os.kill(frozen.process.pid, signal.SIGCONT)

            done = await wait_for_status(api, auth, job["id"], {"succeeded", "dead"}, timeout_s=30)
        assert [(a["attempt"], a["outcome"]) for a in done["history"]] == [(1, "succeeded")], cluster.logs()
        assert await side_effects_per_job(pool) == {job["id"]: 1}
        declared_gone = await pool.fetchval("SELECT count(*) FROM jobq_workers WHERE stopped_at IS NOT NULL")
        assert declared_gone == 0, cluster.logs()
        assert "workers gone" not in cluster.logs()
        assert cluster.alive() == cluster.workers, "a worker exited:\n" + cluster.logs()
    finally:
        codes = cluster.stop_all()
        await pool.close()
        postgres.stop()
    assert codes == [0, 0], cluster.logs()
