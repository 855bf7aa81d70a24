"""Bearer API keys: 401 without a valid key, 403 without the scope the endpoint needs."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from jobq_core.pg import apikeys
from jobq_core.pg.apikeys import Scope
from tests.integration.api_helpers import assert_nothing_stored, assert_problem, job_count

SOME_ID = "00000000-0000-4000-8000-000000000000"
V1_ENDPOINTS = [
    ("POST", "/v1/jobs"),
    ("POST", "/v1/jobs/batch"),
    ("GET", "/v1/jobs"),
    ("GET", f"/v1/jobs/{SOME_ID}"),
    ("POST", f"/v1/jobs/{SOME_ID}/cancel"),
    ("POST", f"/v1/jobs/{SOME_ID}/retry"),
    ("DELETE", f"/v1/jobs/{SOME_ID}"),
    ("GET", "/v1/queues"),
    ("POST", "/v1/queues/default/pause"),
    ("POST", "/v1/queues/default/resume"),
    ("GET", "/v1/job-types"),
    ("GET", "/v1/workers"),
    ("GET", "/v1/me"),
]
JOB = {"type": "jobq.noop"}


async def bearer(db: asyncpg.Pool, *scopes: Scope) -> dict[str, str]:
    return {"Authorization": f"Bearer {await apikeys.create(db, 'test', list(scopes))}"}


@pytest.mark.parametrize(("method", "path"), V1_ENDPOINTS)
async def test_every_v1_endpoint_needs_a_key(api: httpx.AsyncClient, method: str, path: str) -> None:
    response = await api.request(method, path, json={"jobs": [JOB]} if path.endswith("batch") else JOB)

    problem = assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert "Authorization" in problem["detail"]


@pytest.mark.parametrize(
    "authorization",
    ["Bearer jobq_not-a-key", "Basic dXNlcjpwYXNz", "Bearer", "jobq_not-a-key"],
    ids=["unknown-key", "basic", "empty-bearer", "no-scheme"],
)
async def test_a_wrong_key_is_a_401(
    api: httpx.AsyncClient, db: asyncpg.Pool, redis_client: aioredis.Redis, authorization: str
) -> None:
    response = await api.post("/v1/jobs", json=JOB, headers={"Authorization": authorization})

    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    await assert_nothing_stored(db, redis_client)


async def test_a_revoked_key_is_a_401(api: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    headers = await bearer(db, Scope.ADMIN)
    assert (await api.get("/v1/jobs", headers=headers)).status_code == 200
    await db.execute("UPDATE jobq_api_keys SET revoked_at = now()")

    response = await api.get("/v1/jobs", headers=headers)

    assert_problem(response, 401)


async def test_a_read_key_reads_but_cannot_write(
    api: httpx.AsyncClient, db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    headers = await bearer(db, Scope.JOBS_READ)

    assert (await api.get("/v1/jobs", headers=headers)).status_code == 200
    assert (await api.get("/v1/queues", headers=headers)).status_code == 200
    assert (await api.get("/v1/job-types", headers=headers)).status_code == 200
    assert (await api.get("/v1/workers", headers=headers)).status_code == 200
    submitted = await api.post("/v1/jobs", json=JOB, headers=headers)
    batch = await api.post("/v1/jobs/batch", json={"jobs": [JOB]}, headers=headers)

    problem = assert_problem(submitted, 403)
    assert "jobs:write" in problem["detail"]
    assert_problem(batch, 403)
    await assert_nothing_stored(db, redis_client)


async def test_a_read_key_cannot_act_on_a_job(api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool) -> None:
    job = (await api.post("/v1/jobs", json=JOB, headers=auth)).json()
    headers = await bearer(db, Scope.JOBS_READ)

    assert (await api.get(f"/v1/jobs/{job['id']}", headers=headers)).status_code == 200
    assert_problem(await api.post(f"/v1/jobs/{job['id']}/cancel", headers=headers), 403)
    assert_problem(await api.post(f"/v1/jobs/{job['id']}/retry", headers=headers), 403)
    assert_problem(await api.delete(f"/v1/jobs/{job['id']}", headers=headers), 403)
    assert await db.fetchval("SELECT status FROM jobq_jobs") == "queued"


async def test_a_write_key_submits_but_cannot_pause_a_queue(api: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    headers = await bearer(db, Scope.JOBS_WRITE)

    submitted = await api.post("/v1/jobs", json=JOB, headers=headers)
    paused = await api.post("/v1/queues/default/pause", headers=headers)
    resumed = await api.post("/v1/queues/default/resume", headers=headers)

    assert submitted.status_code == 201, submitted.text
    assert await job_count(db) == 1
    problem = assert_problem(paused, 403)
    assert "admin" in problem["detail"]
    assert_problem(resumed, 403)
    assert await db.fetchval("SELECT count(*) FROM jobq_queues WHERE paused") == 0


async def test_probes_and_openapi_need_no_key(api: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz", "/openapi.json"):
        assert (await api.get(path)).status_code == 200, path
