"""Schedules for the dashboard: the next ten fire times, running a schedule by hand
without disturbing its slots, and the jobs a schedule made."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from jobq_core.model import cron
from jobq_core.pg import apikeys
from jobq_core.pg.apikeys import Scope
from tests.conftest import Servers
from tests.integration.api_helpers import assert_problem, not_found_from_handler, routed
from tests.integration.conftest import StartWorker, api_settings, wait_for_status
from tests.integration.test_schedules import act, assert_one_job_per_contiguous_second, at, create, slot_jobs
from tests.support.wait import until

Json = dict[str, Any]
PARIS = "Europe/Paris"
UNKNOWN = "00000000-0000-4000-8000-000000000000"


async def test_next_runs_are_the_next_ten_slots_in_the_schedules_time_zone(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    schedule = await create(api, auth, name="paris-morning", cron="30 9 * * mon-fri", timezone=PARIS)

    runs = [at(r) for r in schedule["next_runs"]]
    assert len(runs) == 10
    assert runs[0] == at(schedule["next_run_at"])
    assert runs == sorted(set(runs))
    local = [r.astimezone(cron.zone(PARIS)) for r in runs]
    assert {(t.hour, t.minute) for t in local} == {(9, 30)}  # 07:30 or 08:30 UTC, by the season
    assert {t.weekday() for t in local} <= {0, 1, 2, 3, 4}
    assert all(r.utcoffset() == timedelta(0) for r in runs)
    assert runs[1:] == [cron.next_slot("30 9 * * mon-fri", PARIS, r) for r in runs[:-1]]
    assert (await api.get(f"/v1/schedules/{schedule['id']}", headers=auth)).json()["next_runs"] == schedule["next_runs"]

    paused = await act(api, auth, schedule, "pause")
    assert paused["next_runs"] == []
    listed = (await api.get("/v1/schedules", headers=auth)).json()["schedules"]
    assert [s["next_runs"] for s in listed] == [[]]


async def test_running_a_schedule_makes_one_job_now_and_leaves_its_slots_alone(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, start_worker: StartWorker
) -> None:
    await start_worker()
    hourly = await create(api, auth, name="hourly", cron="0 * * * *", job={"type": "jobq.noop", "tags": ["report"]})

    before = datetime.now(UTC)
    response = await api.post(f"/v1/schedules/{hourly['id']}/run", headers=auth)

    assert response.status_code == 201, response.text
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert (job["type"], job["queue"], job["tags"]) == ("jobq.noop", "default", ["report", "schedule:hourly"])
    assert (job["schedule_id"], job["idempotency_key"]) == (hourly["id"], None)
    assert at(job["run_at"]) >= before - timedelta(seconds=1)
    assert (await wait_for_status(api, auth, job["id"], {"succeeded", "dead"}))["status"] == "succeeded"
    after = (await api.get(f"/v1/schedules/{hourly['id']}", headers=auth)).json()
    assert after == hourly  # next_run_at, last_run_at, last_job_id: as they were
    again = await api.post(f"/v1/schedules/{hourly['id']}/run", headers=auth)
    assert again.status_code == 201
    assert again.json()["id"] != job["id"]  # each run is a job of its own


async def test_runs_by_hand_between_slots_neither_double_nor_skip_a_slot(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, start_worker: StartWorker
) -> None:
    await start_worker()
    schedule = await create(api, auth, name="every-second")
    by_hand = []

    async def slots_fired(n: int) -> bool:
        return len([j for j in await slot_jobs(db, schedule) if j["idempotency_key"]]) >= n

    for n in (1, 2, 3):
        await until(lambda n=n: slots_fired(n), timeout_s=20, what=f"{n} slot(s) to fire")
        response = await api.post(f"/v1/schedules/{schedule['id']}/run", headers=auth)
        assert response.status_code == 201, response.text
        by_hand.append(response.json()["id"])
    await until(lambda: slots_fired(5), timeout_s=20, what="two slots more")
    await act(api, auth, schedule, "pause")

    jobs = await slot_jobs(db, schedule)
    slot_made = [j for j in jobs if j["idempotency_key"] is not None]
    assert sorted(str(j["id"]) for j in jobs if j["idempotency_key"] is None) == sorted(by_hand)
    assert len(assert_one_job_per_contiguous_second(schedule, slot_made)) >= 5


async def test_a_schedules_runs_are_its_jobs_newest_first_with_their_status(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, start_worker: StartWorker
) -> None:
    await start_worker()
    schedule = await create(api, auth, name="every-second")
    other = await create(api, auth, name="other", cron="0 0 1 1 *")
    await api.post(f"/v1/schedules/{other['id']}/run", headers=auth)

    async def four_succeeded() -> list[Json] | None:
        response = await api.get(f"/v1/schedules/{schedule['id']}/runs", headers=auth)
        assert response.status_code == 200, response.text
        runs: list[Json] = response.json()["jobs"]
        return runs if sum(r["status"] == "succeeded" for r in runs) >= 4 else None

    await until(four_succeeded, timeout_s=20, what="four runs to succeed")
    await act(api, auth, schedule, "pause")
    by_hand = (await api.post(f"/v1/schedules/{schedule['id']}/run", headers=auth)).json()  # paused or not

    runs = (await api.get(f"/v1/schedules/{schedule['id']}/runs", headers=auth)).json()["jobs"]
    made = await db.fetch(
        "SELECT id::text FROM jobq_jobs WHERE schedule_id = $1::uuid ORDER BY created_at DESC, id DESC",
        schedule["id"],
    )
    assert [r["id"] for r in runs] == [r["id"] for r in made][:20]
    assert runs[0]["id"] == by_hand["id"]
    assert {r["schedule_id"] for r in runs} == {schedule["id"]}
    assert {r["status"] for r in runs} <= {"queued", "running", "succeeded"}
    assert all(f"schedule:{schedule['name']}" in r["tags"] for r in runs)
    fired = [r for r in runs if r["idempotency_key"]]
    assert fired and all(r["idempotency_key"].startswith(f"schedule:{schedule['id']}:") for r in fired)

    limited = (await api.get(f"/v1/schedules/{schedule['id']}/runs", params={"limit": 2}, headers=auth)).json()
    assert [r["id"] for r in limited["jobs"]] == [r["id"] for r in runs[:2]]
    assert_problem(await api.get(f"/v1/schedules/{schedule['id']}/runs", params={"limit": 0}, headers=auth), 422)


async def test_running_or_listing_an_unknown_schedule_is_a_404_and_running_needs_the_write_scope(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, servers: Servers
) -> None:
    for method, suffix in (("POST", "/run"), ("GET", "/runs")):
        url = f"/v1/schedules/{UNKNOWN}{suffix}"
        response = await api.request(method, url, headers=auth)
        assert assert_problem(response, 404) == not_found_from_handler("schedule", url)
        assert routed(api_settings(servers), method, f"/v1/schedules/{{schedule_id}}{suffix}")

    schedule = await create(api, auth, name="yearly", cron="0 0 1 1 *")
    reader = {"Authorization": f"Bearer {await apikeys.create(db, 'reader', [Scope.JOBS_READ])}"}
    assert_problem(await api.post(f"/v1/schedules/{schedule['id']}/run", headers=reader), 403)
    assert (await api.get(f"/v1/schedules/{schedule['id']}/runs", headers=reader)).json() == {"jobs": []}
    assert await db.fetchval("SELECT count(*) FROM jobq_jobs") == 0
