"""Bad requests: each answered with a problem document naming the field, and nothing stored."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from tests.conftest import Servers
from tests.integration.api_helpers import (
    PROBLEM_TYPE_BASE,
    assert_nothing_stored,
    assert_problem,
    job_count,
    not_found_from_handler,
    routed,
    set_job,
    submit,
)
from tests.integration.conftest import api_settings

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
JOB_ACTIONS = [("GET", ""), ("POST", "/cancel"), ("POST", "/retry"), ("DELETE", "")]


async def post_job(api: httpx.AsyncClient, auth: dict[str, str], job: dict[str, object]) -> httpx.Response:
    return await api.post("/v1/jobs", json=job, headers=auth)


# Submitting


async def test_malformed_json_is_a_400(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    response = await api.post(
        "/v1/jobs", content=b'{"type": "jobq.noop",', headers={**auth, "Content-Type": "application/json"}
    )

    problem = assert_problem(response, 400)
    assert problem["type"].endswith("/malformed-json")
    await assert_nothing_stored(db, redis_client)


async def test_an_unknown_job_type_is_a_422_naming_type(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    response = await post_job(api, auth, {"type": "no.such.type"})

    problem = assert_problem(response, 422, "type")
    assert "no.such.type" in problem["detail"]
    await assert_nothing_stored(db, redis_client)


@pytest.mark.parametrize("payload", [{"seconds": "x"}, {}, {"seconds": -1}], ids=["wrong-type", "missing", "range"])
async def test_a_payload_the_schema_rejects_is_a_422_naming_the_field(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    db: asyncpg.Pool,
    redis_client: aioredis.Redis,
    payload: dict[str, object],
) -> None:
    response = await post_job(api, auth, {"type": "jobq.sleep", "payload": payload})

    problem = assert_problem(response, 422, "payload.seconds")
    assert problem["type"].endswith("/invalid-payload")
    await assert_nothing_stored(db, redis_client)


async def test_every_field_the_schema_rejects_is_named(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await post_job(api, auth, {"type": "jobq.sleep", "payload": {"seconds": "x", "steps": 0, "extra": 1}})

    problem = assert_problem(response, 422)
    assert sorted(e["field"] for e in problem["errors"]) == ["payload", "payload.seconds", "payload.steps"]


@pytest.mark.parametrize(
    ("job", "field"),
    [
        ({"type": "jobq.noop", "delay": 5}, "delay"),
        ({"payload": {}}, "type"),
        ({"type": "jobq.noop", "priority": 1000}, "priority"),
        ({"type": "jobq.noop", "max_attempts": 0}, "max_attempts"),
        ({"type": "jobq.noop", "timeout_s": 0}, "timeout_s"),
        ({"type": "jobq.noop", "delay_s": -1}, "delay_s"),
        ({"type": "jobq.noop", "queue": "has space"}, "queue"),
        ({"type": "jobq.noop", "run_at": "2030-01-01T00:00:00"}, "run_at"),
        ({"type": "jobq.noop", "tags": "not-a-list"}, "tags"),
        ({"type": "jobq.noop", "tags": ["ok", "x" * 101]}, "tags[1]"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
async def test_an_invalid_field_is_a_422_naming_it(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    db: asyncpg.Pool,
    redis_client: aioredis.Redis,
    job: dict[str, object],
    field: str,
) -> None:
    response = await post_job(api, auth, job)

    assert_problem(response, 422, field)
    await assert_nothing_stored(db, redis_client)


async def test_a_payload_over_max_payload_bytes_is_a_413_naming_payload(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    response = await post_job(api, auth, {"type": "jobq.noop", "payload": {"blob": "x" * 4096}})

    problem = assert_problem(response, 413, "payload")
    assert "4096" in problem["detail"]
    await assert_nothing_stored(db, redis_client)


async def test_a_body_over_max_body_bytes_is_a_413(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    jobs = [{"type": "jobq.noop", "payload": {"blob": "x" * 3000}} for _ in range(400)]

    response = await api.post("/v1/jobs/batch", json={"jobs": jobs}, headers=auth)

    problem = assert_problem(response, 413)
    assert problem["type"].endswith("/body-too-large")
    await assert_nothing_stored(db, redis_client)


async def test_a_chunked_body_over_max_body_bytes_is_a_413(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    """A body sent without Content-Length is counted as it arrives."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"jobs": ['
        for i in range(400):
            yield (b"," if i else b"") + b'{"type": "jobq.noop", "payload": {"blob": "' + b"x" * 3000 + b'"}}'
        yield b"]}"

    response = await api.post("/v1/jobs/batch", content=chunks(), headers={**auth, "Content-Type": "application/json"})

    assert_problem(response, 413)
    await assert_nothing_stored(db, redis_client)


async def test_a_payload_number_json_cannot_store_is_a_422_naming_payload(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    response = await post_job(api, auth, {"type": "jobq.noop", "payload": {"n": 2**70}})

    assert_problem(response, 422, "payload")
    await assert_nothing_stored(db, redis_client)


@pytest.mark.parametrize(
    ("job", "field"),
    [
        ({"type": "jobq.noop", "payload": {"text": "a\u0000b"}}, "payload"),
        ({"type": "jobq.noop", "payload": {"a\u0000b": 1}}, "payload"),
        ({"type": "jobq.noop", "tags": ["a\u0000b"]}, "tags[0]"),
        ({"type": "jobq.noop", "idempotency_key": "a\u0000b"}, "idempotency_key"),
    ],
    ids=["payload-value", "payload-key", "tag", "idempotency-key"],
)
async def test_a_nul_character_is_a_422_naming_its_field(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    db: asyncpg.Pool,
    redis_client: aioredis.Redis,
    job: dict[str, object],
    field: str,
) -> None:
    """PostgreSQL cannot store U+0000 in text or jsonb."""
    response = await post_job(api, auth, job)

    assert_problem(response, 422, field)
    await assert_nothing_stored(db, redis_client)


# Listing


@pytest.mark.parametrize("cursor", ["not-a-cursor", "WzEsMl0", "eyJhIjoxfQ", "WyIyMDI0LTAxLTAxIiwieCJd"])
async def test_a_cursor_this_api_did_not_return_is_a_400_naming_cursor(
    api: httpx.AsyncClient, auth: dict[str, str], cursor: str
) -> None:
    response = await api.get("/v1/jobs", params={"cursor": cursor}, headers=auth)

    assert_problem(response, 400, "cursor")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "sleeping"}, "status[0]"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"tag": "a\u0000b"}, "tag"),
        ({"type": "a\u0000b"}, "type"),
        ({"queue": "a\u0000b"}, "queue"),
    ],
)
async def test_a_bad_list_filter_is_a_422_naming_it(
    api: httpx.AsyncClient, auth: dict[str, str], params: dict[str, object], field: str
) -> None:
    response = await api.get("/v1/jobs", params=params, headers=auth)

    assert_problem(response, 422, field)


# One job


@pytest.mark.parametrize(("method", "suffix"), JOB_ACTIONS)
async def test_an_unknown_job_id_is_a_404(
    api: httpx.AsyncClient, auth: dict[str, str], servers: Servers, method: str, suffix: str
) -> None:
    """The 404 comes from the job handler, not from a missing route."""
    path = f"/v1/jobs/{UNKNOWN_ID}{suffix}"

    response = await api.request(method, path, headers=auth)

    assert assert_problem(response, 404) == not_found_from_handler("job", path)
    assert routed(api_settings(servers), method, f"/v1/jobs/{{job_id}}{suffix}")


@pytest.mark.parametrize(("method", "suffix"), JOB_ACTIONS)
async def test_a_malformed_job_id_is_a_422_naming_job_id(
    api: httpx.AsyncClient, auth: dict[str, str], method: str, suffix: str
) -> None:
    response = await api.request(method, f"/v1/jobs/not-a-uuid{suffix}", headers=auth)

    assert_problem(response, 422, "job_id")


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("succeeded", "cancel"),
        ("cancelled", "cancel"),
        ("dead", "cancel"),
        ("queued", "retry"),
        ("scheduled", "retry"),
        ("running", "retry"),
        ("succeeded", "retry"),
    ],
)
async def test_an_action_the_jobs_state_does_not_allow_is_a_409(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, status: str, action: str
) -> None:
    job = await submit(api, auth, type="jobq.noop")
    await set_job(db, job["id"], status, attempts=0 if status in ("queued", "scheduled", "cancelled") else 1)

    response = await api.post(f"/v1/jobs/{job['id']}/{action}", headers=auth)

    problem = assert_problem(response, 409)
    assert problem["job_status"] == status
    assert await db.fetchval("SELECT status FROM jobq_jobs WHERE id = $1::uuid", job["id"]) == status


async def test_deleting_a_running_job_is_a_409_and_keeps_it(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    job = await submit(api, auth, type="jobq.noop")
    await set_job(db, job["id"], "running", attempts=1)

    response = await api.delete(f"/v1/jobs/{job['id']}", headers=auth)

    problem = assert_problem(response, 409)
    assert problem["job_status"] == "running"
    assert await job_count(db) == 1


# One queue


@pytest.mark.parametrize(("action", "paused"), [("pause", True), ("resume", False)])
async def test_a_queue_nothing_has_used_yet_is_not_a_404(
    api: httpx.AsyncClient, auth: dict[str, str], servers: Servers, action: str, paused: bool
) -> None:
    """Queues exist by name: pausing or resuming an unseen one records it."""
    response = await api.post(f"/v1/queues/never-seen/{action}", headers=auth)

    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["paused"]) == ("never-seen", paused)
    assert routed(api_settings(servers), "POST", f"/v1/queues/{{name}}/{action}")


# Routing


async def test_an_unknown_path_is_a_404_problem(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    path = f"/v1/nothing-here/{uuid.uuid4()}"

    response = await api.get(path, headers=auth)

    problem = assert_problem(response, 404)
    assert (problem["type"], problem["title"]) == (PROBLEM_TYPE_BASE + "not-found", "Not Found")
    assert problem["detail"] == f"Not Found: GET {path}"


async def test_a_wrong_method_is_a_405_problem(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await api.get(f"/v1/jobs/{UNKNOWN_ID}/cancel", headers=auth)

    assert_problem(response, 405)
    assert response.headers["allow"] == "POST"
