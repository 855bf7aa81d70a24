"""Submitting jobs over HTTP: one, idempotent, and in batches, checked in PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import orjson
import pytest
import redis.asyncio as aioredis

from jobq_core.dispatch.wire import MESSAGE_TTL_MS
from tests.conftest import Servers
from tests.integration.api_helpers import (
    assert_nothing_stored,
    assert_problem,
    job_count,
    queued_messages,
    submit,
    submit_batch,
)
from tests.integration.conftest import _client, api_settings
from tests.support.wait import until


@pytest.fixture
async def small_batch_api(servers: Servers, db: asyncpg.Pool, builtin_types: None) -> AsyncIterator[httpx.AsyncClient]:
    """An API that accepts at most five jobs per batch."""
    async for client in _client(api_settings(servers, max_batch_jobs=5)):
        yield client


# One job


async def test_submit_returns_201_with_the_job_and_its_location(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await api.post(
        "/v1/jobs", json={"type": "jobq.sleep", "payload": {"seconds": 1}, "tags": ["a", "b"]}, headers=auth
    )

    assert response.status_code == 201, response.text
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["type"] == "jobq.sleep"
    assert job["payload"] == {"seconds": 1}
    assert job["status"] == "queued"
    assert job["attempts"] == 0
    assert job["tags"] == ["a", "b"]
    assert job["result"] is None and job["error"] is None
    assert (await api.get(response.headers["location"], headers=auth)).json()["id"] == job["id"]


async def test_a_submitted_job_is_a_row_in_postgres_and_a_json_message_in_redis(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    job = await submit(api, auth, type="jobq.noop", payload={"x": 1})

    row = await db.fetchrow("SELECT status, type, payload FROM jobq_jobs WHERE id = $1::uuid", job["id"])
    assert dict(row) == {"status": "queued", "type": "jobq.noop", "payload": {"x": 1}}
    assert await queued_messages(redis_client) == [f"{job['id']}:1"]
    message = orjson.loads(await redis_client.get(f"arq:job:{job['id']}:1"))
    assert message["f"] == "jobq.run"
    assert message["a"][:2] == [job["id"], 1]


async def test_a_message_redis_holds_expires_after_its_time_to_live(
    api: httpx.AsyncClient, auth: dict[str, str], redis_client: aioredis.Redis
) -> None:
    """A message no worker takes (its queue unserved) does not stay in Redis for ever:
    the job key carries the TTL. The row in PostgreSQL is the record; the relay resends
    a queued job whose message expired."""
    job = await submit(api, auth, type="jobq.noop", queue="nobody-serves-this")

    ttl_ms = await redis_client.pttl(f"arq:job:{job['id']}:1")

    assert MESSAGE_TTL_MS - 60_000 < ttl_ms <= MESSAGE_TTL_MS, f"PTTL {ttl_ms}"
    assert MESSAGE_TTL_MS >= 86_400_000  # long enough for any backlog a relay sweep would not resend


async def test_queue_attempts_and_timeout_default_to_the_job_types(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    job = await submit(api, auth, type="jobq.sleep", payload={"seconds": 1})

    assert (job["queue"], job["max_attempts"], job["timeout_s"], job["priority"]) == ("default", 3, 3700, 0)


async def test_queue_attempts_timeout_and_priority_can_be_set(
    api: httpx.AsyncClient, auth: dict[str, str], redis_client: aioredis.Redis
) -> None:
    job = await submit(
        api, auth, type="jobq.noop", queue="bulk", max_attempts=7, timeout_s=2.5, priority=10, tags=["t"]
    )

    assert (job["queue"], job["max_attempts"], job["timeout_s"], job["priority"]) == ("bulk", 7, 2.5, 10)
    assert await queued_messages(redis_client, "jobq:queue:bulk") == [f"{job['id']}:1"]


async def test_delay_s_schedules_the_job_for_later(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    before = datetime.now(UTC)
    job = await submit(api, auth, type="jobq.noop", delay_s=60)

    assert job["status"] == "scheduled"
    run_at = datetime.fromisoformat(job["run_at"])
    assert before + timedelta(seconds=59) < run_at < datetime.now(UTC) + timedelta(seconds=61)


async def test_run_at_in_the_future_schedules_the_job_at_that_time(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    run_at = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)

    job = await submit(api, auth, type="jobq.noop", run_at=run_at.isoformat())

    assert job["status"] == "scheduled"
    assert datetime.fromisoformat(job["run_at"]) == run_at


async def test_run_at_in_the_past_queues_the_job_now(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    job = await submit(api, auth, type="jobq.noop", run_at="2020-01-01T00:00:00Z")

    assert job["status"] == "queued"


async def test_run_at_and_delay_s_together_are_refused(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    response = await api.post(
        "/v1/jobs", json={"type": "jobq.noop", "run_at": "2030-01-01T00:00:00Z", "delay_s": 5}, headers=auth
    )

    problem = assert_problem(response, 422)
    assert "run_at or delay_s" in problem["detail"]
    await assert_nothing_stored(db, redis_client)


# Idempotency


async def test_a_repeated_idempotency_key_returns_the_first_job_with_200(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    first = await submit(api, auth, type="jobq.noop", idempotency_key="order-1")

    again = await api.post("/v1/jobs", json={"type": "jobq.noop", "idempotency_key": "order-1"}, headers=auth)

    assert again.status_code == 200, again.text
    assert again.json()["id"] == first["id"]
    assert again.headers["location"] == f"/v1/jobs/{first['id']}"
    assert await job_count(db) == 1
    assert await queued_messages(redis_client) == [f"{first['id']}:1"]


async def test_the_idempotency_key_header_works_like_the_field(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    headers = {**auth, "Idempotency-Key": "order-2"}
    first = await api.post("/v1/jobs", json={"type": "jobq.noop"}, headers=headers)
    again = await api.post("/v1/jobs", json={"type": "jobq.noop"}, headers=headers)
    by_field = await api.post("/v1/jobs", json={"type": "jobq.noop", "idempotency_key": "order-2"}, headers=auth)

    assert (first.status_code, again.status_code, by_field.status_code) == (201, 200, 200)
    assert first.json()["idempotency_key"] == "order-2"
    assert again.json()["id"] == by_field.json()["id"] == first.json()["id"]
    assert await job_count(db) == 1


async def test_an_idempotency_header_that_differs_from_the_field_is_refused(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    response = await api.post(
        "/v1/jobs",
        json={"type": "jobq.noop", "idempotency_key": "a"},
        headers={**auth, "Idempotency-Key": "b"},
    )

    assert_problem(response, 422, "idempotency_key")
    await assert_nothing_stored(db, redis_client)


async def test_concurrent_submits_with_one_idempotency_key_make_one_job(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    body = {"type": "jobq.noop", "idempotency_key": "race"}

    responses = await asyncio.gather(*(api.post("/v1/jobs", json=body, headers=auth) for _ in range(50)))

    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 49 + [201], [r.text for r in responses if r.status_code not in (200, 201)]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await job_count(db) == 1
    assert len(await queued_messages(redis_client)) == 1


# Batches


async def test_a_batch_of_1000_is_stored_and_dispatched_before_the_call_returns(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    jobs = [{"type": "jobq.noop", "payload": {"i": i}} for i in range(1000)]

    body = await submit_batch(api, auth, jobs)

    assert body["created"] == 1000
    assert [j["payload"]["i"] for j in body["jobs"]] == list(range(1000))
    assert await job_count(db) == 1000
    ids = {j["id"] for j in body["jobs"]}
    assert set(await queued_messages(redis_client)) == {f"{job_id}:1" for job_id in ids}


@pytest.mark.parametrize(
    ("bad_job", "field"),
    [
        ({"type": "jobq.sleep", "payload": {"seconds": "x"}}, "jobs[3].payload.seconds"),
        ({"type": "jobq.sleep", "payload": {}}, "jobs[3].payload.seconds"),
        ({"type": "no.such.type"}, "jobs[3].type"),
        ({"type": "jobq.noop", "delay": 5}, "jobs[3].delay"),
        ({"type": "jobq.noop", "payload": {"blob": "x" * 5000}}, "jobs[3].payload"),
    ],
)
async def test_one_bad_job_refuses_the_whole_batch_naming_its_field(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    db: asyncpg.Pool,
    redis_client: aioredis.Redis,
    bad_job: dict[str, object],
    field: str,
) -> None:
    jobs: list[dict[str, object]] = [{"type": "jobq.sleep", "payload": {"seconds": 1}} for _ in range(10)]
    jobs[3] = bad_job

    response = await api.post("/v1/jobs/batch", json={"jobs": jobs}, headers=auth)

    assert_problem(response, 413 if field.endswith("payload") else 422, field)
    await assert_nothing_stored(db, redis_client)


async def test_batch_members_with_a_seen_idempotency_key_return_the_existing_job(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    existing = await submit(api, auth, type="jobq.noop", idempotency_key="k1")
    jobs = [
        {"type": "jobq.noop", "idempotency_key": "k1"},
        {"type": "jobq.noop", "idempotency_key": "k2"},
        {"type": "jobq.noop"},
    ]

    body = await submit_batch(api, auth, jobs)
    repeat = await api.post("/v1/jobs/batch", json={"jobs": jobs[:2]}, headers=auth)

    assert body["created"] == 2
    assert body["jobs"][0]["id"] == existing["id"]
    assert repeat.status_code == 200, repeat.text
    assert repeat.json()["created"] == 0
    assert [j["id"] for j in repeat.json()["jobs"]] == [j["id"] for j in body["jobs"][:2]]
    assert await job_count(db) == 3
    assert len(await queued_messages(redis_client)) == 3


async def test_a_key_repeated_inside_one_batch_makes_one_job(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    jobs = [{"type": "jobq.noop", "idempotency_key": "twice"}, {"type": "jobq.noop", "idempotency_key": "twice"}]

    body = await submit_batch(api, auth, jobs)

    assert body["created"] == 1
    assert body["jobs"][0]["id"] == body["jobs"][1]["id"]
    assert await job_count(db) == 1


async def test_concurrent_batches_sharing_keys_in_opposite_orders_make_one_job_per_key(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    """Two batches insert the same keys, one ascending, one descending, and meet in the middle.

    An open transaction holding the middle key stops both there, so they overlap for sure.
    """
    keys = [f"k{i:03}" for i in range(100)]

    def batch(order: list[str]) -> dict[str, object]:
        return {"jobs": [{"type": "jobq.noop", "idempotency_key": k} for k in order]}

    async def both_waiting() -> bool:
        waiting = await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO jobq_jobs%'"
        )
        return bool(waiting == 2)

    async with db.acquire() as blocker:
        held = blocker.transaction()
        await held.start()
        await blocker.execute(
            "INSERT INTO jobq_jobs (id, type, queue, status, payload, max_attempts, timeout_s, idempotency_key, run_at)"
            " VALUES (gen_random_uuid(), 'jobq.noop', 'default', 'queued', '{}', 1, 1, 'k050', now())"
        )
        requests = asyncio.gather(
            api.post("/v1/jobs/batch", json=batch(keys), headers=auth),
            api.post("/v1/jobs/batch", json=batch(keys[::-1]), headers=auth),
        )
        await until(both_waiting, what="both batches to wait for the middle key")
        await held.rollback()
    responses = await requests

    assert sorted(r.status_code for r in responses) == [200, 201], [r.text for r in responses]
    assert sum(r.json()["created"] for r in responses) == 100
    assert await job_count(db) == 100


async def test_a_batch_larger_than_max_batch_jobs_is_refused_with_413(
    small_batch_api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    jobs = [{"type": "jobq.noop"} for _ in range(6)]

    response = await small_batch_api.post("/v1/jobs/batch", json={"jobs": jobs}, headers=auth)

    assert_problem(response, 413, "jobs")
    await assert_nothing_stored(db, redis_client)
    assert (await small_batch_api.post("/v1/jobs/batch", json={"jobs": jobs[:5]}, headers=auth)).status_code == 201


async def test_an_empty_batch_is_refused(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    response = await api.post("/v1/jobs/batch", json={"jobs": []}, headers=auth)

    assert_problem(response, 422, "jobs")
    await assert_nothing_stored(db, redis_client)
