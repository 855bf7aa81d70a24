"""Acting on jobs and queues: cancel, retry, delete, queue counts, pause and resume."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from tests.integration.api_helpers import Json, assert_problem, job_count, queued_messages, set_job, submit
from tests.integration.conftest import StartWorker, wait_for_status
from tests.support.wait import until


async def queue_named(api: httpx.AsyncClient, auth: dict[str, str], name: str) -> Json:
    response = await api.get("/v1/queues", headers=auth)
    assert response.status_code == 200, response.text
    [queue] = [q for q in response.json()["queues"] if q["name"] == name]
    return queue


# Jobs


@pytest.mark.parametrize("delay_s", [0, 60], ids=["queued", "scheduled"])
async def test_cancelling_a_waiting_job_makes_it_cancelled(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, delay_s: float
) -> None:
    job = await submit(api, auth, type="jobq.noop", delay_s=delay_s)

    response = await api.post(f"/v1/jobs/{job['id']}/cancel", headers=auth)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert response.json()["finished_at"] is not None
    assert await db.fetchval("SELECT status FROM jobq_jobs WHERE id = $1::uuid", job["id"]) == "cancelled"


async def test_retrying_a_dead_job_queues_its_next_attempt(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    job = await submit(api, auth, type="jobq.fail")
    await redis_client.flushall()  # the worker consumed attempts 1-3
    await set_job(db, job["id"], "dead", attempts=3)

    response = await api.post(f"/v1/jobs/{job['id']}/retry", headers=auth)

    assert response.status_code == 200, response.text
    retried = response.json()
    assert (retried["status"], retried["attempts"], retried["max_attempts"]) == ("queued", 3, 4)
    assert retried["finished_at"] is None
    assert await queued_messages(redis_client) == [f"{job['id']}:4"]


async def test_retrying_a_cancelled_job_queues_it_again(
    api: httpx.AsyncClient, auth: dict[str, str], redis_client: aioredis.Redis
) -> None:
    job = await submit(api, auth, type="jobq.noop")
    assert (await api.post(f"/v1/jobs/{job['id']}/cancel", headers=auth)).status_code == 200
    await redis_client.flushall()  # a worker dropped the message of the cancelled job

    response = await api.post(f"/v1/jobs/{job['id']}/retry", headers=auth)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "queued"
    assert await queued_messages(redis_client) == [f"{job['id']}:1"]


async def test_a_cancelled_job_that_is_retried_runs(
    api: httpx.AsyncClient, auth: dict[str, str], redis_client: aioredis.Redis, start_worker: StartWorker
) -> None:
    """The worker dropped the cancelled job's message; the retry must send a new one."""
    await start_worker()
    job = await submit(api, auth, type="jobq.noop", delay_s=0.3)
    assert (await api.post(f"/v1/jobs/{job['id']}/cancel", headers=auth)).status_code == 200

    async def message_consumed() -> bool:
        return not await redis_client.exists(f"arq:job:{job['id']}:1")

    await until(message_consumed, what="the worker to drop the cancelled job's message")
    assert (await api.post(f"/v1/jobs/{job['id']}/retry", headers=auth)).status_code == 200

    done = await wait_for_status(api, auth, job["id"], {"succeeded", "dead"})
    assert (done["status"], done["attempts"]) == ("succeeded", 1)


@pytest.mark.parametrize("status", ["queued", "succeeded", "dead", "cancelled"])
async def test_deleting_a_job_removes_it(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, status: str
) -> None:
    job = await submit(api, auth, type="jobq.noop")
    await set_job(db, job["id"], status)

    response = await api.delete(f"/v1/jobs/{job['id']}", headers=auth)

    assert response.status_code == 204
    assert response.content == b""
    assert (await api.get(f"/v1/jobs/{job['id']}", headers=auth)).status_code == 404
    assert (await api.delete(f"/v1/jobs/{job['id']}", headers=auth)).status_code == 404
    assert await job_count(db) == 0


# Queues


async def test_queues_count_ready_scheduled_running_and_dead_jobs(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    ready = [await submit(api, auth, type="jobq.noop") for _ in range(2)]
    await submit(api, auth, type="jobq.noop", delay_s=3600)
    running = await submit(api, auth, type="jobq.noop")
    await set_job(db, running["id"], "running", attempts=1)
    dead = await submit(api, auth, type="jobq.noop")
    await set_job(db, dead["id"], "dead", attempts=3)
    done = await submit(api, auth, type="jobq.noop")
    await set_job(db, done["id"], "succeeded", attempts=1)
    await db.execute("UPDATE jobq_jobs SET run_at = now() - interval '30 seconds' WHERE id = $1::uuid", ready[0]["id"])
    await submit(api, auth, type="jobq.noop", queue="other")

    default = await queue_named(api, auth, "default")
    other = await queue_named(api, auth, "other")

    assert {k: default[k] for k in ("ready", "scheduled", "running", "dead", "paused")} == {
        "ready": 2,
        "scheduled": 1,
        "running": 1,
        "dead": 1,
        "paused": False,
    }
    assert 30 <= default["oldest_ready_age_s"] < 60
    assert (other["ready"], other["scheduled"], other["running"], other["dead"]) == (1, 0, 0, 0)


async def test_an_idle_queue_has_zero_counts_and_no_oldest_age(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    default = await queue_named(api, auth, "default")

    assert (default["ready"], default["scheduled"], default["running"], default["dead"]) == (0, 0, 0, 0)
    assert default["oldest_ready_age_s"] is None


async def test_pause_and_resume_toggle_a_queue(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    paused = await api.post("/v1/queues/default/pause", headers=auth)
    assert paused.status_code == 200, paused.text
    assert paused.json()["paused"] is True
    assert (await queue_named(api, auth, "default"))["paused"] is True

    resumed = await api.post("/v1/queues/default/resume", headers=auth)
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["paused"] is False
    assert (await queue_named(api, auth, "default"))["paused"] is False


async def test_pausing_a_queue_with_no_jobs_yet_lists_it(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await api.post("/v1/queues/reports/pause", headers=auth)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "name": "reports",
        "ready": 0,
        "scheduled": 0,
        "running": 0,
        "dead": 0,
        "oldest_ready_age_s": None,
        "paused": True,
    }
    assert (await queue_named(api, auth, "reports"))["paused"] is True


async def test_a_bad_queue_name_is_a_422(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await api.post("/v1/queues/-bad/pause", headers=auth)

    assert_problem(response, 422, "name")
