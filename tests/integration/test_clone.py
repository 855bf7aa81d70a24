"""Clone and edit: a job submitted with `cloned_from` remembers its original, which stays
as it was; an unknown original is a 422 naming the field."""

from __future__ import annotations

import asyncpg
import httpx
import redis.asyncio as aioredis

from tests.integration.api_helpers import assert_nothing_stored, assert_problem, submit, submit_batch
from tests.integration.conftest import StartWorker, wait_for_status

UNKNOWN = "00000000-0000-4000-8000-000000000000"


async def test_a_clone_remembers_its_original_which_stays_untouched(
    api: httpx.AsyncClient, auth: dict[str, str], start_worker: StartWorker
) -> None:
    await start_worker()
    original = await submit(api, auth, type="jobq.sleep", payload={"seconds": 0.01}, tags=["first"])
    original = await wait_for_status(api, auth, original["id"], {"succeeded"})

    clone = await submit(
        api, auth, type="jobq.sleep", payload={"seconds": 0.02}, tags=["edited"], cloned_from=original["id"]
    )

    assert clone["cloned_from"] == original["id"]
    assert clone["id"] != original["id"]
    assert (clone["payload"], clone["tags"]) == ({"seconds": 0.02}, ["edited"])
    done = await wait_for_status(api, auth, clone["id"], {"succeeded"})
    assert done["cloned_from"] == original["id"]
    assert (await api.get(f"/v1/jobs/{original['id']}", headers=auth)).json() == original
    assert original["cloned_from"] is None
    listed = (await api.get("/v1/jobs", params={"tag": "edited"}, headers=auth)).json()["jobs"]
    assert [j["cloned_from"] for j in listed] == [original["id"]]

    # No foreign key: deleting the original keeps the clone and its link.
    assert (await api.delete(f"/v1/jobs/{original['id']}", headers=auth)).status_code == 204
    assert (await api.get(f"/v1/jobs/{clone['id']}", headers=auth)).json()["cloned_from"] == original["id"]


async def test_cloning_an_unknown_job_is_a_422_naming_cloned_from_and_stores_nothing(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    response = await api.post("/v1/jobs", json={"type": "jobq.noop", "cloned_from": UNKNOWN}, headers=auth)

    problem = assert_problem(response, 422, "cloned_from")
    assert UNKNOWN in problem["detail"]
    assert_problem(await api.post("/v1/jobs", json={"type": "jobq.noop", "cloned_from": "x"}, headers=auth), 422)
    await assert_nothing_stored(db, redis_client)


async def test_a_batch_names_the_job_whose_original_is_unknown(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    original = await submit(api, auth, type="jobq.noop")
    jobs = [{"type": "jobq.noop", "cloned_from": original["id"]}, {"type": "jobq.noop", "cloned_from": UNKNOWN}]

    assert_problem(await api.post("/v1/jobs/batch", json={"jobs": jobs}, headers=auth), 422, "jobs[1].cloned_from")
    assert await db.fetchval("SELECT count(*) FROM jobq_jobs") == 1

    batch = await submit_batch(api, auth, jobs[:1] * 2)
    assert [j["cloned_from"] for j in batch["jobs"]] == [original["id"]] * 2
