"""Reading jobs: one with its history, and lists with filters and cursor pagination."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from tests.integration.api_helpers import Json, assert_problem, set_job, submit, submit_batch


async def list_ids(api: httpx.AsyncClient, auth: dict[str, str], params: object = None) -> list[str]:
    response = await api.get("/v1/jobs", params=params, headers=auth)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    return [j["id"] for j in response.json()["jobs"]]


async def test_a_job_reads_back_with_its_attempt_history(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    job = await submit(api, auth, type="jobq.fail", payload={"message": "boom"})
    error = {"type": "DeliberateFailure", "message": "boom", "traceback": "Traceback ..."}
    await db.execute(
        "INSERT INTO jobq_job_attempts (job_id, attempt, worker_id, started_at, outcome, error)"
        " VALUES ($1::uuid, 1, 'w1', now(), 'failed', $2)",
        job["id"],
        error,
    )
    await db.execute(
        "UPDATE jobq_jobs SET status = 'dead', attempts = 1, error = $2 WHERE id = $1::uuid", job["id"], error
    )

    response = await api.get(f"/v1/jobs/{job['id']}", headers=auth)

    assert response.status_code == 200
    read = response.json()
    assert (read["status"], read["attempts"], read["error"]) == ("dead", 1, error)
    [attempt] = read["history"]
    assert (attempt["attempt"], attempt["worker_id"], attempt["outcome"]) == (1, "w1", "failed")
    assert attempt["error"] == error
    assert attempt["started_at"] <= attempt["finished_at"]


async def test_a_new_job_has_an_empty_history(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    job = await submit(api, auth, type="jobq.noop")

    read = (await api.get(f"/v1/jobs/{job['id']}", headers=auth)).json()

    assert read["history"] == []
    assert {k: v for k, v in read.items() if k != "history"} == job


async def test_list_filters_by_status_type_queue_and_tag(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    noop = await submit(api, auth, type="jobq.noop", tags=["red"])
    sleep = await submit(api, auth, type="jobq.sleep", payload={"seconds": 1}, tags=["red", "blue"])
    bulk = await submit(api, auth, type="jobq.noop", queue="bulk")
    dead = await submit(api, auth, type="jobq.fail")
    await set_job(db, dead["id"], "dead", attempts=3)

    assert set(await list_ids(api, auth)) == {noop["id"], sleep["id"], bulk["id"], dead["id"]}
    assert await list_ids(api, auth, {"status": "dead"}) == [dead["id"]]
    assert set(await list_ids(api, auth, [("status", "dead"), ("status", "queued")])) == {
        noop["id"],
        sleep["id"],
        bulk["id"],
        dead["id"],
    }
    assert await list_ids(api, auth, {"status": "running"}) == []
    assert await list_ids(api, auth, {"type": "jobq.sleep"}) == [sleep["id"]]
    assert await list_ids(api, auth, {"queue": "bulk"}) == [bulk["id"]]
    assert set(await list_ids(api, auth, {"tag": "red"})) == {noop["id"], sleep["id"]}
    assert await list_ids(api, auth, {"tag": "blue", "type": "jobq.sleep"}) == [sleep["id"]]


async def test_list_filters_by_creation_time(api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool) -> None:
    jobs = [await submit(api, auth, type="jobq.noop") for _ in range(3)]
    start = datetime(2030, 1, 1, tzinfo=UTC)
    for hours, job in enumerate(jobs):
        await db.execute(
            "UPDATE jobq_jobs SET created_at = $2 WHERE id = $1::uuid", job["id"], start + timedelta(hours=hours)
        )
    ids = [j["id"] for j in jobs]

    after = await list_ids(api, auth, {"created_after": (start + timedelta(hours=1)).isoformat()})
    before = await list_ids(api, auth, {"created_before": (start + timedelta(hours=1)).isoformat()})
    between = await list_ids(
        api,
        auth,
        {"created_after": start.isoformat(), "created_before": (start + timedelta(hours=2)).isoformat()},
    )

    assert after == [ids[2], ids[1]]  # inclusive, newest first
    assert before == [ids[0]]  # exclusive
    assert between == [ids[1], ids[0]]


async def test_cursor_pages_walk_every_job_once_newest_first(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    """The jobs of one batch share their creation time, so the cursor must also order by id."""
    created = await submit_batch(api, auth, [{"type": "jobq.noop", "payload": {"i": i}} for i in range(25)])

    pages: list[list[Json]] = []
    cursor = None
    while True:
        params = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/v1/jobs", params=params, headers=auth)).json()
        pages.append(page["jobs"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(pages) < 5, "pagination does not end"

    assert [len(p) for p in pages] == [10, 10, 5]
    walked = [j for p in pages for j in p]
    assert sorted(j["id"] for j in walked) == sorted(j["id"] for j in created["jobs"])
    keys = [(j["created_at"], j["id"]) for j in walked]
    assert keys == sorted(keys, reverse=True)


async def test_a_filtered_list_pages_within_its_filter(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await submit_batch(api, auth, [{"type": "jobq.noop", "tags": ["odd" if i % 2 else "even"]} for i in range(9)])

    first = (await api.get("/v1/jobs", params={"tag": "odd", "limit": 3}, headers=auth)).json()
    second = (
        await api.get("/v1/jobs", params={"tag": "odd", "limit": 3, "cursor": first["next_cursor"]}, headers=auth)
    ).json()

    assert [len(first["jobs"]), len(second["jobs"])] == [3, 1]
    assert second["next_cursor"] is None
    assert all(j["tags"] == ["odd"] for j in first["jobs"] + second["jobs"])


async def test_a_count_takes_the_lists_filters_and_names_a_bad_one(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    jobs = (await submit_batch(api, auth, [{"type": "jobq.noop", "tags": ["counted"]} for _ in range(3)]))["jobs"]
    await submit(api, auth, type="jobq.noop", tags=["other"])

    counted = await api.get("/v1/jobs/count", params={"tag": "counted", "status": "queued"}, headers=auth)
    assert counted.status_code == 200, counted.text
    assert counted.json() == {"count": {"value": len(jobs), "exact": True}}
    assert (await api.get("/v1/jobs/count", params={"tag": "none"}, headers=auth)).json()["count"]["value"] == 0

    assert_problem(await api.get("/v1/jobs/count", params={"status": "lost"}, headers=auth), 422, "status[0]")
    assert_problem(await api.get("/v1/jobs/count", params={"payload": "no-equals"}, headers=auth), 422, "payload[0]")
