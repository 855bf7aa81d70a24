"""Searching the jobs list: `error` (text in the last error's message) and `payload` (values at paths)."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.api_helpers import Json, assert_problem, submit, submit_batch
from tests.integration.conftest import StartWorker, wait_for_status
from tests.integration.test_api_read import list_ids


async def fail(db: asyncpg.Pool, job_id: str, message: str) -> None:
    """Leave a job dead with `message` as its error, the way a worker writes it."""
    error = {"type": "ValueError", "message": message, "traceback": "Traceback (most recent call last): …"}
    await db.execute(
        "UPDATE jobq_jobs SET status = 'dead', attempts = 1, finished_at = now(), error = $2 WHERE id = $1::uuid",
        job_id,
        error,
    )


async def test_error_matches_text_in_the_message_a_worker_wrote_ignoring_case(
    api: httpx.AsyncClient, auth: dict[str, str], start_worker: StartWorker
) -> None:
    await start_worker()
    timed_out = await submit(
        api, auth, type="jobq.fail", payload={"message": "SMTP server Timed Out after 30s"}, max_attempts=1
    )
    declined = await submit(api, auth, type="jobq.fail", payload={"message": "card declined"}, max_attempts=1)
    fine = await submit(api, auth, type="jobq.noop")
    for job in (timed_out, declined):
        await wait_for_status(api, auth, job["id"], {"dead"})
    await wait_for_status(api, auth, fine["id"], {"succeeded"})

    assert await list_ids(api, auth, {"error": "timed out"}) == [timed_out["id"]]
    assert await list_ids(api, auth, {"error": "TIMED OUT AFTER"}) == [timed_out["id"]]
    assert await list_ids(api, auth, {"error": "Declined"}) == [declined["id"]]
    assert await list_ids(api, auth, {"error": "timed out after 31s"}) == []


async def test_percent_underscore_and_backslash_in_error_match_only_themselves(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    messages = ["disk 100% full", "disk 1000 full", "user_id missing", "userXid missing", r"no C:\temp", "no C:temp"]
    jobs = (await submit_batch(api, auth, [{"type": "jobq.noop"} for _ in messages]))["jobs"]
    ids = {}
    for job, message in zip(jobs, messages, strict=True):
        await fail(db, job["id"], message)
        ids[message] = job["id"]

    assert await list_ids(api, auth, {"error": "100%"}) == [ids["disk 100% full"]]
    assert await list_ids(api, auth, {"error": "%"}) == [ids["disk 100% full"]]
    assert await list_ids(api, auth, {"error": "user_id"}) == [ids["user_id missing"]]
    assert await list_ids(api, auth, {"error": "_"}) == [ids["user_id missing"]]
    assert await list_ids(api, auth, {"error": r"C:\t"}) == [ids[r"no C:\temp"]]


PAYLOADS: dict[str, Any] = {
    "ada": {"user": {"id": 123, "name": "Ada", "vip": True}, "score": 1.5},
    "bob": {"user": {"id": 124, "name": "Bob Ross", "vip": False}},
    "text_id": {"user": {"id": "123", "name": "Ada"}},
    "gold": {"user": {"id": 123, "vip": None}, "tier": "gold"},
    "flat": {"id": 123},
}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["user.id=123"], {"ada", "gold"}),  # a number, not the string "123"
        (['user.id="123"'], {"text_id"}),  # quoted: the string
        (["user.name=Ada"], {"ada", "text_id"}),  # not JSON: a plain string
        (["user.name=Bob Ross"], {"bob"}),
        (["user.vip=true"], {"ada"}),
        (["user.vip=false"], {"bob"}),
        (["user.vip=null"], {"gold"}),
        (["score=1.5"], {"ada"}),
        (["id=123"], {"flat"}),
        (["user.id=999"], set()),
        (["user.name=ada"], set()),  # values match exactly, case included
        (["user.id=123", "tier=gold"], {"gold"}),  # all of them
        (["user.id=123", "user.name=Ada"], {"ada"}),
        (["user.id=123", "user.id=123"], {"ada", "gold"}),  # the same twice agrees with itself
        (["user.id=124", "tier=gold"], set()),
    ],
)
async def test_payload_filters_match_values_at_paths(
    api: httpx.AsyncClient, auth: dict[str, str], filters: list[str], expected: set[str]
) -> None:
    jobs = (await submit_batch(api, auth, [{"type": "jobq.noop", "payload": p} for p in PAYLOADS.values()]))["jobs"]
    names = {job["id"]: name for job, name in zip(jobs, PAYLOADS, strict=True)}

    found = await list_ids(api, auth, [("payload", f) for f in filters])

    assert {names[i] for i in found} == expected
    assert len(found) == len(expected)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ([("payload", "user.id")], "payload[0]"),  # no value
        ([("payload", "=123")], "payload[0]"),  # no path
        ([("payload", "user..id=1")], "payload[0]"),  # an empty key
        ([("payload", ".id=1")], "payload[0]"),
        ([("payload", "user.=1")], "payload[0]"),
        ([("payload", "user id=1")], "payload[0]"),
        ([("payload", "user[0]=1")], "payload[0]"),
        ([("payload", 'name="\\u0000"')], "payload[0]"),  # PostgreSQL cannot hold it
        ([("payload", "name=\x00")], "payload[0]"),
        ([("payload", "a=" + "x" * 200)], "payload[0]"),
        ([("payload", f"k{i}=1") for i in range(21)], "payload"),
        ([("payload", "user.id=1"), ("payload", "user.id=2")], "payload[1]"),  # contradicting filters
        ([("payload", "user=1"), ("payload", "user.id=1")], "payload[1]"),
        ([("payload", "user.id=1"), ("payload", "user=1")], "payload[1]"),
        ([("payload", "vip=true"), ("payload", "vip=1")], "payload[1]"),
        ([("payload", "ok=1"), ("payload", "bad")], "payload[1]"),
        ([("error", "")], "error"),
        ([("error", "x" * 201)], "error"),
        ([("error", "a\x00b")], "error"),
    ],
)
async def test_a_bad_search_is_a_problem_naming_the_parameter(
    api: httpx.AsyncClient, auth: dict[str, str], params: list[tuple[str, str]], field: str
) -> None:
    response = await api.get("/v1/jobs", params=params, headers=auth)

    problem = assert_problem(response, 422, field)
    assert problem["type"].endswith("/validation")


async def test_search_combines_with_status_and_queue_and_pages_with_the_cursor(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    def job(queue: str, team: str) -> Json:
        return {"type": "jobq.noop", "queue": queue, "payload": {"owner": {"team": team}}}

    batch = [job("bulk", "a") for _ in range(7)] + [job("default", "a"), job("bulk", "b"), job("bulk", "a")]
    jobs = (await submit_batch(api, auth, batch))["jobs"]
    for j in jobs[:9]:  # the last one stays queued
        await fail(db, j["id"], "Quota exceeded for team")
    await fail(db, jobs[0]["id"], "something else")
    wanted = {j["id"] for j in jobs[1:7]}  # dead, bulk, team a, quota

    params: dict[str, Any] = {
        "status": "dead",
        "queue": "bulk",
        "error": "quota EXCEEDED",
        "payload": "owner.team=a",
        "limit": 4,
    }
    pages: list[list[Json]] = []
    cursor = None
    while True:
        response = await api.get("/v1/jobs", params={**params, **({"cursor": cursor} if cursor else {})}, headers=auth)
        assert response.status_code == 200, response.text
        pages.append(response.json()["jobs"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
        assert len(pages) < 4, "pagination does not end"

    assert [len(p) for p in pages] == [4, 2]
    walked = [j for p in pages for j in p]
    assert {j["id"] for j in walked} == wanted
    keys = [(j["created_at"], j["id"]) for j in walked]
    assert keys == sorted(keys, reverse=True)
