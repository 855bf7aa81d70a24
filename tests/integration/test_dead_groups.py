"""`/v1/dead-groups`: dead jobs grouped by how they failed, and a group retried at once."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from jobq_core.flows import dead_groups
from jobq_core.model.fingerprint import fingerprint
from jobq_core.pg import apikeys
from jobq_core.pg.apikeys import Scope
from tests.integration.api_helpers import assert_problem, queued_messages, submit
from tests.integration.conftest import StartWorker, wait_for_status

GROUP_FIELDS = {
    "fingerprint",
    "type",
    "error_type",
    "message_pattern",
    "sample_message",
    "count",
    "first_finished_at",
    "last_finished_at",
    "sample_job_ids",
}


async def make_dead(
    db: asyncpg.Pool,
    message: str,
    *,
    minutes_ago: float,
    type: str = "email.send",
    error_type: str = "ValueError",
    queue: str = "default",
    status: str = "dead",
) -> str:
    """A job a worker left `dead` (or another finished status) `minutes_ago`, as a worker writes it."""
    job_id = uuid.uuid4()
    error = {"type": error_type, "message": message, "traceback": "Traceback (most recent call last): …"}
    await db.execute(
        "INSERT INTO jobq_jobs (id, type, queue, status, payload, attempts, max_attempts, timeout_s, run_at,"
        " started_at, finished_at, error)"
        " VALUES ($1, $2, $3, $4, '{}', 3, 3, 30, now() - make_interval(secs => 60 * $5::float8),"
        " now() - make_interval(secs => 60 * $5::float8), now() - make_interval(secs => 60 * $5::float8), $6)",
        job_id,
        type,
        queue,
        status,
        minutes_ago,
        error,
    )
    return str(job_id)


async def groups(api: httpx.AsyncClient, auth: dict[str, str], **params: str) -> dict[str, Any]:
    response = await api.get("/v1/dead-groups", params=params, headers=auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def statuses(db: asyncpg.Pool, job_ids: list[str]) -> list[str]:
    rows = await db.fetch("SELECT id::text, status FROM jobq_jobs WHERE id = ANY($1::uuid[])", job_ids)
    by_id = {r["id"]: r["status"] for r in rows}
    return [by_id[i] for i in job_ids]


async def test_dead_jobs_that_failed_alike_form_one_group_whatever_their_ids_and_numbers(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    missing = [
        await make_dead(db, f"user {uuid.uuid4()} not found ('ada{n}@example.com', try {n})", minutes_ago=10 - n)
        for n in range(3)
    ]  # the last one made is the newest
    slow = [
        await make_dead(db, f"no answer from 10.0.0.{n}:25 after {n * 7.5}s", minutes_ago=20 + n, error_type="Timeout")
        for n in range(2)
    ]
    hooks = [await make_dead(db, "user 7 not found ('bob@example.org', try 1)", minutes_ago=30, type="webhook.post")]

    found = await groups(api, auth)

    assert (found["scanned"], found["truncated"]) == (6, False)
    listed = found["groups"]
    assert all(set(g) == GROUP_FIELDS for g in listed)
    assert [(g["type"], g["error_type"], g["message_pattern"], g["count"]) for g in listed] == [
        ("email.send", "ValueError", "user <uuid> not found ('<s>', try <n>)", 3),
        ("email.send", "Timeout", "no answer from <n> after <n>s", 2),
        ("webhook.post", "ValueError", "user <n> not found ('<s>', try <n>)", 1),
    ]
    users = listed[0]
    newest = await db.fetchrow("SELECT error, finished_at FROM jobq_jobs WHERE id = $1::uuid", missing[-1])
    oldest = await db.fetchval("SELECT finished_at FROM jobq_jobs WHERE id = $1::uuid", missing[0])
    assert users["sample_message"] == newest["error"]["message"]  # a real message, the newest
    assert users["sample_job_ids"] == missing[::-1]
    assert users["last_finished_at"] == newest["finished_at"].isoformat()
    assert users["first_finished_at"] == oldest.isoformat()
    assert users["fingerprint"] == fingerprint("email.send", "ValueError", newest["error"]["message"])
    assert listed[1]["sample_job_ids"] == slow
    assert listed[2]["sample_job_ids"] == hooks
    assert len({g["fingerprint"] for g in listed}) == 3


async def test_only_dead_jobs_count_and_the_filters_narrow_the_groups(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    await make_dead(db, "disk 1 full", minutes_ago=1)
    await make_dead(db, "disk 2 full", minutes_ago=2, queue="bulk")
    await make_dead(db, "disk 3 full", minutes_ago=3, type="webhook.post", queue="bulk")
    for status in ("succeeded", "cancelled"):
        await make_dead(db, "disk 4 full", minutes_ago=0, status=status)

    everything = await groups(api, auth)
    bulk = await groups(api, auth, queue="bulk")
    bulk_email = await groups(api, auth, queue="bulk", type="email.send")
    nothing = await groups(api, auth, queue="elsewhere")

    assert [(g["type"], g["count"]) for g in everything["groups"]] == [("email.send", 2), ("webhook.post", 1)]
    assert everything["scanned"] == 3
    assert [(g["type"], g["count"]) for g in bulk["groups"]] == [("email.send", 1), ("webhook.post", 1)]
    assert [(g["type"], g["count"]) for g in bulk_email["groups"]] == [("email.send", 1)]
    assert nothing == {"groups": [], "scanned": 0, "truncated": False}


async def test_a_listing_reads_only_the_newest_dead_jobs_and_says_it_left_some(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dead_groups, "SCAN_LIMIT", 3)
    for minutes in range(5):
        await make_dead(db, f"old failure {minutes}" if minutes >= 3 else f"new failure {minutes}", minutes_ago=minutes)

    found = await groups(api, auth)

    assert (found["scanned"], found["truncated"]) == (3, True)
    assert [(g["message_pattern"], g["count"]) for g in found["groups"]] == [("new failure <n>", 3)]


async def test_retrying_a_group_with_a_limit_retries_that_many_oldest_first_then_the_rest(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    members = [await make_dead(db, f"order {n} rejected", minutes_ago=50 - n) for n in range(5)]  # oldest first
    other = await make_dead(db, "card declined", minutes_ago=60)
    key = (await groups(api, auth))["groups"][0]["fingerprint"]

    first = await api.post(f"/v1/dead-groups/{key}/retry", json={"limit": 2}, headers=auth)

    assert first.status_code == 200, first.text
    assert first.json() == {"fingerprint": key, "retried": 2, "remaining": 3, "scanned": 6, "truncated": False}
    assert await statuses(db, members) == ["queued", "queued", "dead", "dead", "dead"]
    assert sorted(await queued_messages(redis_client)) == sorted(f"{job_id}:4" for job_id in members[:2])
    retried = await db.fetchrow("SELECT * FROM jobq_jobs WHERE id = $1::uuid", members[0])
    assert (retried["max_attempts"], retried["finished_at"]) == (4, None)  # one more attempt, as one retry gives
    assert [(g["message_pattern"], g["count"]) for g in (await groups(api, auth))["groups"]] == [
        ("order <n> rejected", 3),
        ("card declined", 1),
    ]

    rest = await api.post(f"/v1/dead-groups/{key}/retry", headers=auth)  # no body: all of them

    assert rest.status_code == 200, rest.text
    assert (rest.json()["retried"], rest.json()["remaining"]) == (3, 0)
    assert await statuses(db, [*members, other]) == ["queued"] * 5 + ["dead"]
    assert sorted(await queued_messages(redis_client)) == sorted(f"{job_id}:4" for job_id in members)

    gone = await api.post(f"/v1/dead-groups/{key}/retry", json={}, headers=auth)

    problem = assert_problem(gone, 404)
    assert key in problem["detail"]
    assert await statuses(db, [other]) == ["dead"]


async def test_a_group_retry_narrowed_to_a_queue_leaves_the_groups_other_jobs_dead(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    here = await make_dead(db, "quota 1 exceeded", minutes_ago=2, queue="bulk")
    there = await make_dead(db, "quota 2 exceeded", minutes_ago=1)
    key = (await groups(api, auth))["groups"][0]["fingerprint"]

    response = await api.post(f"/v1/dead-groups/{key}/retry", params={"queue": "bulk"}, headers=auth)

    assert response.status_code == 200, response.text
    assert (response.json()["retried"], response.json()["remaining"]) == (1, 0)
    assert await statuses(db, [here, there]) == ["queued", "dead"]


async def test_retried_jobs_run_again_on_real_workers(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, start_worker: StartWorker
) -> None:
    await start_worker()
    # Each fails its first attempt only, and has no other: dead, with the worker's own error.
    payloads = [{"message": f"order {n} of {uuid.uuid4()}", "times": 1} for n in range(3)]
    jobs = [await submit(api, auth, type="jobq.fail", max_attempts=1, payload=p) for p in payloads]
    for job in jobs:
        await wait_for_status(api, auth, job["id"], {"dead"})
    [group] = (await groups(api, auth, type="jobq.fail"))["groups"]
    assert (group["count"], group["message_pattern"]) == (3, "order <n> of <uuid>")
    assert group["error_type"].endswith("DeliberateFailure")

    longest_dead = [r["id"] for r in await db.fetch("SELECT id::text FROM jobq_jobs ORDER BY finished_at, id")]

    response = await api.post(f"/v1/dead-groups/{group['fingerprint']}/retry", json={"limit": 2}, headers=auth)

    assert (response.json()["retried"], response.json()["remaining"]) == (2, 1)
    for job_id in longest_dead[:2]:
        done = await wait_for_status(api, auth, job_id, {"succeeded"})
        assert done["result"] == {"succeeded_on_attempt": 2}
    [left] = (await groups(api, auth))["groups"]
    assert (left["count"], left["sample_job_ids"]) == (1, longest_dead[2:])


async def test_a_read_key_lists_groups_but_cannot_retry_them(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    job_id = await make_dead(db, "boom", minutes_ago=1)
    read = {"Authorization": f"Bearer {await apikeys.create(db, 'reader', [Scope.JOBS_READ])}"}
    key = (await groups(api, read))["groups"][0]["fingerprint"]

    problem = assert_problem(await api.post(f"/v1/dead-groups/{key}/retry", headers=read), 403)

    assert "jobs:write" in problem["detail"]
    assert await statuses(db, [job_id]) == ["dead"]
    assert_problem(await api.get("/v1/dead-groups"), 401)
    assert_problem(await api.post(f"/v1/dead-groups/{key}/retry"), 401)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/dead-groups/0123456789abcdef/retry", {"limit": 0}, "limit"),
        ("/v1/dead-groups/0123456789abcdef/retry", {"limit": 1001}, "limit"),
        ("/v1/dead-groups/0123456789abcdef/retry", {"limit": "all"}, "limit"),
        ("/v1/dead-groups/0123456789abcdef/retry", {"count": 2}, "count"),
        ("/v1/dead-groups/not-a-fingerprint/retry", None, "fingerprint"),
    ],
    ids=["zero", "over-the-cap", "not-a-number", "unknown-field", "bad-fingerprint"],
)
async def test_a_bad_group_retry_is_a_422_naming_the_field(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, path: str, body: Any, field: str
) -> None:
    job_id = await make_dead(db, "boom", minutes_ago=1)

    response = await api.post(path, json=body, headers=auth)

    assert_problem(response, 422, field)
    assert await statuses(db, [job_id]) == ["dead"]


async def test_the_group_routes_are_in_the_openapi_document_with_their_models(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]

    def model(ref: str) -> set[str]:
        return set(schemas[ref.rsplit("/", 1)[1]]["properties"])

    def answer(method: str, path: str) -> str:
        ref: str = document["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        return ref

    listing = answer("get", "/v1/dead-groups")
    assert model(listing) == {"groups", "scanned", "truncated"}
    assert model(schemas[listing.rsplit("/", 1)[1]]["properties"]["groups"]["items"]["$ref"]) == GROUP_FIELDS
    assert model(answer("post", "/v1/dead-groups/{fingerprint}/retry")) == {
        "fingerprint",
        "retried",
        "remaining",
        "scanned",
        "truncated",
    }
