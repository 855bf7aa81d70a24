"""Helpers shared by the `test_api_*` modules: submitting, reading problems, looking inside the stores."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis
from fastapi.routing import iter_route_contexts

from jobq_api.app import create_app
from jobq_api.settings import ApiSettings

PROBLEM_TYPE_BASE = "https://jobq.dev/problems/"
DEFAULT_QUEUE_KEY = "jobq:queue:default"

Json = dict[str, Any]


def routed(settings: ApiSettings, method: str, path: str) -> bool:
    """Whether the API's routing table has `method path` (a template such as `/v1/jobs/{job_id}`).

    A 404 test checks this too: an unknown path is a 404 problem as well.
    """
    return any(r.path == path and method in (r.methods or ()) for r in iter_route_contexts(create_app(settings).routes))


def not_found_from_handler(what: str, path: str) -> Json:
    """The problem a handler answers for a missing object; an unknown route's 404 has another title and detail."""
    return {
        "type": PROBLEM_TYPE_BASE + "not-found",
        "title": "Not found",
        "status": 404,
        "detail": f"no {what} with this id",
        "instance": path,
    }


async def submit(api: httpx.AsyncClient, auth: dict[str, str], **job: Any) -> Json:
    """Submit one job and return it; the submit must create it (201)."""
    response = await api.post("/v1/jobs", json=job, headers=auth)
    assert response.status_code == 201, response.text
    body: Json = response.json()
    return body


async def submit_batch(api: httpx.AsyncClient, auth: dict[str, str], jobs: list[Json]) -> Json:
    """Submit jobs in one batch; the batch must create at least one (201)."""
    response = await api.post("/v1/jobs/batch", json={"jobs": jobs}, headers=auth)
    assert response.status_code == 201, response.text
    body: Json = response.json()
    return body


def assert_problem(response: httpx.Response, status: int, *fields: str) -> Json:
    """Check `response` is an RFC 9457 problem with `status` whose `errors` name exactly `fields`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: Json = response.json()
    assert problem["type"].startswith(PROBLEM_TYPE_BASE)
    assert problem["status"] == status
    assert problem["title"]
    assert problem["detail"]
    if fields:
        assert [e["field"] for e in problem["errors"]] == list(fields), problem
        assert all(e["message"] for e in problem["errors"])
    return problem


async def job_count(db: asyncpg.Pool) -> int:
    """How many job rows PostgreSQL holds."""
    count: int = await db.fetchval("SELECT count(*) FROM jobq_jobs")
    return count


async def queued_messages(redis_client: aioredis.Redis, key: str = DEFAULT_QUEUE_KEY) -> list[str]:
    """The ARQ ids waiting in a queue's sorted set, e.g. `<job id>:1`."""
    return [m.decode() for m in await redis_client.zrange(key, 0, -1)]


async def assert_nothing_stored(db: asyncpg.Pool, redis_client: aioredis.Redis) -> None:
    """No job row in PostgreSQL and no message in Redis."""
    assert await job_count(db) == 0
    assert await redis_client.keys("jobq:queue:*") == []
    assert await redis_client.keys("arq:job:*") == []


async def set_job(db: asyncpg.Pool, job_id: str, status: str, attempts: int = 0) -> None:
    """Put a job in `status` directly, as a worker would have left it."""
    await db.execute(
        "UPDATE jobq_jobs SET status = $2, attempts = $3,"
        " started_at = CASE WHEN $2 = 'running' THEN now() END,"
        " finished_at = CASE WHEN $2 IN ('succeeded', 'dead', 'cancelled') THEN now() END"
        " WHERE id = $1::uuid",
        job_id,
        status,
        attempts,
    )
