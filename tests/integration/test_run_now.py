"""Run now: a scheduled job (delayed, or waiting out a back-off) becomes due at once and
runs on a real worker; any other state is a 409."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from jobq_core.pg import apikeys
from jobq_core.pg.apikeys import Scope
from tests.conftest import Servers
from tests.integration.api_helpers import (
    assert_problem,
    not_found_from_handler,
    queued_messages,
    routed,
    set_job,
    submit,
)
from tests.integration.conftest import StartWorker, api_settings, wait_for_status


async def test_a_delayed_job_run_now_is_due_at_once_and_runs(
    api: httpx.AsyncClient, auth: dict[str, str], start_worker: StartWorker
) -> None:
    await start_worker()
    job = await submit(api, auth, type="jobq.noop", delay_s=3600)
    assert job["status"] == "scheduled"

    before = datetime.now(UTC)
    response = await api.post(f"/v1/jobs/{job['id']}/run-now", headers=auth)
    after = datetime.now(UTC)

    assert response.status_code == 200, response.text
    moved = response.json()
    assert moved["status"] in {"queued", "running", "succeeded"}  # a worker may be quick
    assert before - timedelta(seconds=1) <= datetime.fromisoformat(moved["run_at"]) <= after + timedelta(seconds=1)
    done = await wait_for_status(api, auth, job["id"], {"succeeded", "dead"}, timeout_s=10)
    assert (done["status"], done["attempts"]) == ("succeeded", 1)


async def test_a_retry_waiting_out_its_back_off_runs_now(
    api: httpx.AsyncClient, auth: dict[str, str], start_worker: StartWorker
) -> None:
    await start_worker(JOBQ_RETRY_BASE_S="3600")  # the second attempt would wait half an hour at least
    job = await submit(api, auth, type="jobq.fail", payload={"times": 1})
    waiting = await wait_for_status(api, auth, job["id"], {"scheduled"})
    assert datetime.fromisoformat(waiting["run_at"]) > datetime.now(UTC) + timedelta(minutes=29)

    response = await api.post(f"/v1/jobs/{job['id']}/run-now", headers=auth)

    assert response.status_code == 200, response.text
    done = await wait_for_status(api, auth, job["id"], {"succeeded", "dead"}, timeout_s=10)
    assert (done["status"], done["attempts"], done["result"]) == ("succeeded", 2, {"succeeded_on_attempt": 2})


async def test_run_now_sends_the_job_to_its_queue_in_redis(
    api: httpx.AsyncClient, auth: dict[str, str], redis_client: aioredis.Redis
) -> None:
    job = await submit(api, auth, type="jobq.noop", delay_s=600)
    assert await queued_messages(redis_client) == []  # a scheduled job waits in PostgreSQL only

    assert (await api.post(f"/v1/jobs/{job['id']}/run-now", headers=auth)).status_code == 200

    assert await queued_messages(redis_client) == [f"{job['id']}:1"]


@pytest.mark.parametrize("status", ["queued", "running", "succeeded", "dead", "cancelled"])
async def test_run_now_is_a_409_for_a_job_that_is_not_scheduled(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, status: str
) -> None:
    job = await submit(api, auth, type="jobq.noop")
    if status != "queued":
        await set_job(db, job["id"], status, attempts=1)
    before = (await api.get(f"/v1/jobs/{job['id']}", headers=auth)).json()

    response = await api.post(f"/v1/jobs/{job['id']}/run-now", headers=auth)

    problem = assert_problem(response, 409)
    assert problem["job_status"] == status
    assert problem["detail"] == f"a {status} job cannot be run now; only scheduled jobs can"
    assert (await api.get(f"/v1/jobs/{job['id']}", headers=auth)).json() == before


async def test_run_now_of_an_unknown_job_is_a_404_and_needs_the_write_scope(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, servers: Servers
) -> None:
    url = "/v1/jobs/00000000-0000-4000-8000-000000000000/run-now"
    assert assert_problem(await api.post(url, headers=auth), 404) == not_found_from_handler("job", url)
    assert routed(api_settings(servers), "POST", "/v1/jobs/{job_id}/run-now")

    job = await submit(api, auth, type="jobq.noop", delay_s=600)
    reader = {"Authorization": f"Bearer {await apikeys.create(db, 'reader', [Scope.JOBS_READ])}"}
    assert_problem(await api.post(f"/v1/jobs/{job['id']}/run-now", headers=reader), 403)
    assert_problem(await api.post(f"/v1/jobs/{job['id']}/run-now"), 401)
    assert (await api.get(f"/v1/jobs/{job['id']}", headers=auth)).json()["status"] == "scheduled"
