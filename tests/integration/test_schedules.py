"""Recurring schedules: the API, and the leader firing each slot once through real workers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from jobq_core.model.cron import next_slot
from jobq_core.pg import apikeys
from jobq_core.pg.apikeys import Scope
from tests.conftest import Servers
from tests.integration.api_helpers import assert_problem, not_found_from_handler, routed
from tests.integration.conftest import StartWorker, api_settings, wait_for_status
from tests.support.wait import until

Json = dict[str, Any]
PARIS = "Europe/Paris"
SECOND = timedelta(seconds=1)
NOOP_DEFAULTS = {"queue": "default", "priority": 0, "max_attempts": 3, "timeout_s": 30.0, "tags": []}


async def create(api: httpx.AsyncClient, auth: dict[str, str], **schedule: Any) -> Json:
    """Create a schedule (every second on jobq.noop unless told) and return it; must be 201."""
    body = {"cron": "* * * * * *", "job": {"type": "jobq.noop"}, **schedule}
    response = await api.post("/v1/schedules", json=body, headers=auth)
    assert response.status_code == 201, response.text
    created: Json = response.json()
    return created


async def act(api: httpx.AsyncClient, auth: dict[str, str], schedule: Json, action: str) -> Json:
    """POST `pause` or `resume`; must be 200."""
    response = await api.post(f"/v1/schedules/{schedule['id']}/{action}", headers=auth)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


def at(text: str) -> datetime:
    """A timestamp from the API."""
    return datetime.fromisoformat(text)


async def slot_jobs(db: asyncpg.Pool, schedule: Json) -> list[asyncpg.Record]:
    """The jobs a schedule made (its tag), by slot."""
    return await db.fetch(
        "SELECT id, status, idempotency_key, run_at, tags FROM jobq_jobs WHERE $1 = ANY(tags) ORDER BY run_at",
        f"schedule:{schedule['name']}",
    )


def slot_of(schedule: Json, key: str) -> datetime:
    """The slot an idempotency key `schedule:<id>:<slot iso>` names."""
    prefix = f"schedule:{schedule['id']}:"
    assert key.startswith(prefix), key
    return datetime.fromisoformat(key.removeprefix(prefix))


def assert_one_job_per_contiguous_second(schedule: Json, jobs: list[asyncpg.Record]) -> list[datetime]:
    """The jobs' slots run second by second from the schedule's first slot, one job each; return them."""
    keys = [job["idempotency_key"] for job in jobs]
    assert len(set(keys)) == len(keys), "two jobs share a key"
    slots = sorted(slot_of(schedule, key) for key in keys)
    first = at(schedule["next_run_at"])
    assert slots == [first + i * SECOND for i in range(len(slots))], "a slot is missing or fired twice"
    assert all(job["run_at"] == slot_of(schedule, job["idempotency_key"]) for job in jobs)
    return slots


async def count_at_least(db: asyncpg.Pool, schedule: Json, n: int) -> list[asyncpg.Record] | None:
    jobs = await slot_jobs(db, schedule)
    return jobs if len(jobs) >= n else None


async def leader(db: asyncpg.Pool, other_than: str = "") -> asyncpg.Record | None:
    """The worker holding leadership (other than the one named), if any."""
    row: asyncpg.Record | None = await db.fetchrow(
        "SELECT id, pid FROM jobq_workers WHERE leader_since IS NOT NULL AND id <> $1", other_than
    )
    return row


# --- the API -----------------------------------------------------------------------


async def test_a_schedule_is_created_read_changed_paused_resumed_and_deleted(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    before = datetime.now(UTC)
    response = await api.post(
        "/v1/schedules",
        json={
            "name": "nightly-report",
            "cron": "0 3 * * *",
            "timezone": PARIS,
            "job": {"type": "jobq.sleep", "payload": {"seconds": 0.01}, "tags": ["report"]},
        },
        headers=auth,
    )
    after = datetime.now(UTC)

    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"/v1/schedules/{created['id']}"
    assert created["job"] == {
        "type": "jobq.sleep",
        "payload": {"seconds": 0.01},
        "queue": "default",
        "priority": 0,
        "max_attempts": 3,
        "timeout_s": 3700.0,
        "tags": ["report"],
    }
    assert at(created["next_run_at"]) in {next_slot("0 3 * * *", PARIS, t) for t in (before, after)}
    assert (created["missed"], created["paused"], created["last_run_at"], created["last_job_id"]) == (
        "skip",
        False,
        None,
        None,
    )
    other = await create(api, auth, name="a-first-by-name", missed="run_once")
    assert other["job"] == {"type": "jobq.noop", "payload": {}, **NOOP_DEFAULTS}

    one = await api.get(f"/v1/schedules/{created['id']}", headers=auth)
    assert (one.status_code, one.json()) == (200, created)
    listed = await api.get("/v1/schedules", headers=auth)
    assert listed.status_code == 200
    assert listed.json() == {"schedules": [other, created]}

    before = datetime.now(UTC)
    patched = await api.patch(f"/v1/schedules/{created['id']}", json={"cron": "*/10 * * * * *"}, headers=auth)
    after = datetime.now(UTC)
    assert patched.status_code == 200, patched.text
    changed = patched.json()
    assert changed["cron"] == "*/10 * * * * *"
    assert at(changed["next_run_at"]) in {next_slot("*/10 * * * * *", PARIS, t) for t in (before, after)}
    assert changed["job"] == created["job"]
    assert at(changed["updated_at"]) > at(created["updated_at"])

    patched = await api.patch(
        f"/v1/schedules/{created['id']}",
        json={"job": {"type": "jobq.sleep", "payload": {"seconds": 2}, "priority": 5}},
        headers=auth,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["job"] == {
        "type": "jobq.sleep",
        "payload": {"seconds": 2},
        "queue": "default",
        "priority": 5,
        "max_attempts": 3,
        "timeout_s": 3700.0,
        "tags": [],
    }
    assert (await api.get(f"/v1/schedules/{created['id']}", headers=auth)).json() == patched.json()

    paused = await act(api, auth, created, "pause")
    assert paused["paused"] is True
    assert (await api.get(f"/v1/schedules/{created['id']}", headers=auth)).json()["paused"] is True
    resumed = await act(api, auth, created, "resume")
    assert resumed["paused"] is False
    assert at(resumed["next_run_at"]) > before

    deleted = await api.delete(f"/v1/schedules/{created['id']}", headers=auth)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_problem(await api.get(f"/v1/schedules/{created['id']}", headers=auth), 404)
    assert (await api.get("/v1/schedules", headers=auth)).json() == {"schedules": [other]}
    assert await db.fetchval("SELECT count(*) FROM jobq_schedules") == 1


VALID = {"name": "valid", "cron": "*/5 * * * *", "job": {"type": "jobq.noop"}}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * *"}, "cron"),
        ({"cron": "0 0 31 4 *"}, "cron"),  # no April 31st: it could never fire
        ({"cron": "0 R * * *"}, "cron"),  # a random hour, drawn again at every tick
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"job": {"type": "no.such.type"}}, "job.type"),
        ({"job": {"type": "jobq.sleep", "payload": {}}}, "job.payload.seconds"),
        ({"job": {"type": "jobq.sleep", "payload": {"seconds": -1}}}, "job.payload.seconds"),
        ({"job": {"type": "jobq.noop", "max_attempts": 0}}, "job.max_attempts"),
        ({"missed": "catch_up"}, "missed"),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_an_invalid_schedule_is_a_422_naming_the_field_and_nothing_is_stored(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, change: Json, field: str
) -> None:
    response = await api.post("/v1/schedules", json={**VALID, **change}, headers=auth)

    assert_problem(response, 422, field)
    assert await db.fetchval("SELECT count(*) FROM jobq_schedules") == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"job": {"type": "jobq.sleep", "payload": {}}}, "job.payload.seconds"),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_an_invalid_change_is_a_422_and_the_schedule_stays_as_it_was(
    api: httpx.AsyncClient, auth: dict[str, str], change: Json, field: str
) -> None:
    schedule = await create(api, auth, **VALID)

    response = await api.patch(f"/v1/schedules/{schedule['id']}", json=change, headers=auth)

    assert_problem(response, 422, field)
    assert (await api.get(f"/v1/schedules/{schedule['id']}", headers=auth)).json() == schedule


async def test_a_name_is_unique(api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool) -> None:
    first = await create(api, auth, name="hourly")
    second = await create(api, auth, name="daily")

    assert_problem(await api.post("/v1/schedules", json={**VALID, "name": "hourly"}, headers=auth), 409)
    renamed = await api.patch(f"/v1/schedules/{second['id']}", json={"name": "hourly"}, headers=auth)
    assert_problem(renamed, 409)
    rows = await db.fetch("SELECT id::text, name FROM jobq_schedules ORDER BY name")
    assert [tuple(r) for r in rows] == [(second["id"], "daily"), (first["id"], "hourly")]


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/pause"), ("POST", "/resume")],
)
async def test_an_unknown_schedule_is_a_404(
    api: httpx.AsyncClient, auth: dict[str, str], servers: Servers, method: str, suffix: str
) -> None:
    """The 404 comes from the schedule handler, not from a missing route."""
    url = f"/v1/schedules/00000000-0000-4000-8000-000000000000{suffix}"
    response = await api.request(method, url, json={} if method == "PATCH" else None, headers=auth)

    assert assert_problem(response, 404) == not_found_from_handler("schedule", url)
    assert routed(api_settings(servers), method, f"/v1/schedules/{{schedule_id}}{suffix}")


async def test_schedules_need_a_key_and_writing_them_needs_the_write_scope(
    api: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    assert_problem(await api.get("/v1/schedules"), 401)
    assert_problem(await api.post("/v1/schedules", json=VALID), 401)
    reader = {"Authorization": f"Bearer {await apikeys.create(db, 'reader', [Scope.JOBS_READ])}"}

    assert_problem(await api.post("/v1/schedules", json=VALID, headers=reader), 403)
    listed = await api.get("/v1/schedules", headers=reader)
    assert (listed.status_code, listed.json()) == (200, {"schedules": []})
    assert await db.fetchval("SELECT count(*) FROM jobq_schedules") == 0


# --- firing through real workers ---------------------------------------------------


async def test_an_every_second_schedule_makes_one_job_per_slot_and_each_runs(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, start_worker: StartWorker
) -> None:
    await start_worker()
    schedule = await create(api, auth, name="every-second")
    tag = "schedule:every-second"

    async def three_succeeded() -> list[Json] | None:
        page = await api.get("/v1/jobs", params={"tag": tag, "status": "succeeded"}, headers=auth)
        jobs: list[Json] = page.json()["jobs"]
        return jobs if len(jobs) >= 3 else None

    await until(three_succeeded, timeout_s=20, what="three scheduled jobs to succeed")
    await act(api, auth, schedule, "pause")

    jobs = await slot_jobs(db, schedule)
    slots = assert_one_job_per_contiguous_second(schedule, jobs)
    assert len(slots) >= 3
    listed = (await api.get("/v1/jobs", params={"tag": tag, "limit": 500}, headers=auth)).json()["jobs"]
    assert sorted(job["id"] for job in listed) == sorted(str(job["id"]) for job in jobs)
    assert {(job["type"], job["queue"], job["max_attempts"], tuple(job["tags"])) for job in listed} == {
        ("jobq.noop", "default", 3, (tag,))
    }
    for job in listed:
        assert (await wait_for_status(api, auth, job["id"], {"succeeded", "dead"}))["status"] == "succeeded"
    latest = max(jobs, key=lambda job: job["run_at"])
    current = (await api.get(f"/v1/schedules/{schedule['id']}", headers=auth)).json()
    assert (current["last_job_id"], at(current["last_run_at"])) == (str(latest["id"]), slots[-1])


@pytest.mark.parametrize("missed", ["run_once", "skip"])
async def test_slots_missed_while_no_leader_ran_follow_the_missed_policy(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, start_worker: StartWorker, missed: str
) -> None:
    """Hourly at two minutes chosen so that two slots were missed in the last hour (20
    and 10 minutes ago) and none is on time: the next is 40 minutes ahead."""
    now: datetime = await db.fetchval("SELECT now()")
    twenty_ago = (now - timedelta(minutes=20)).replace(second=0, microsecond=0)
    ten_ago = (now - timedelta(minutes=10)).replace(second=0, microsecond=0)
    minutes = ",".join(str(m) for m in sorted({twenty_ago.minute, ten_ago.minute}))
    schedule = await create(api, auth, name="hourly-twice", cron=f"{minutes} * * * *", missed=missed)
    assert at(schedule["next_run_at"]) == twenty_ago + timedelta(hours=1)
    await db.execute(
        "UPDATE jobq_schedules SET next_run_at = now() - interval '1 hour' WHERE id = $1::uuid", schedule["id"]
    )
    await start_worker()

    async def moved_on() -> bool:
        return bool(
            await db.fetchval("SELECT next_run_at > now() FROM jobq_schedules WHERE id = $1::uuid", schedule["id"])
        )

    await until(moved_on, timeout_s=20, what="the leader to move the schedule past now")

    jobs = await slot_jobs(db, schedule)
    current = (await api.get(f"/v1/schedules/{schedule['id']}", headers=auth)).json()
    assert at(current["next_run_at"]) == twenty_ago + timedelta(hours=1)
    if missed == "skip":
        assert jobs == []
        assert (current["last_run_at"], current["last_job_id"]) == (None, None)
    else:
        assert [slot_of(schedule, job["idempotency_key"]) for job in jobs] == [ten_ago]
        assert (current["last_job_id"], at(current["last_run_at"])) == (str(jobs[0]["id"]), ten_ago)
        done = await wait_for_status(api, auth, str(jobs[0]["id"]), {"succeeded", "dead"})
        assert done["status"] == "succeeded"


async def test_a_paused_schedule_fires_nothing_until_resumed(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, start_worker: StartWorker
) -> None:
    await start_worker()
    paused = await create(api, auth, name="paused", paused=True)
    control = await create(api, auth, name="control")
    assert paused["paused"] is True
    await until(lambda: leader(db), timeout_s=20, what="a leader")

    fired = await until(lambda: count_at_least(db, control, 2), timeout_s=20, what="the control schedule to fire")

    # The control fired slots the paused schedule was due for too.
    assert max(job["run_at"] for job in fired) > at(paused["next_run_at"])
    assert await slot_jobs(db, paused) == []

    resumed_at = datetime.now(UTC)
    resumed = await act(api, auth, paused, "resume")
    jobs = await until(lambda: count_at_least(db, resumed, 2), timeout_s=20, what="the resumed schedule to fire")
    # It fires from the first slot after the resume on, without catching up on those it was paused for.
    assert_one_job_per_contiguous_second(resumed, jobs)
    assert at(paused["next_run_at"]) < resumed_at < at(resumed["next_run_at"])


async def test_every_slot_fires_exactly_once_across_a_leader_kill(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, start_worker: StartWorker
) -> None:
    workers = [await start_worker() for _ in range(3)]
    schedule = await create(api, auth, name="failover")
    await until(lambda: count_at_least(db, schedule, 3), timeout_s=20, what="three scheduled jobs")
    first_leader = await until(lambda: leader(db), what="a leader")
    (victim,) = [w for w in workers if w.process.pid == first_leader["pid"]]
    assert first_leader["id"].split("-")[-2] == str(victim.process.pid)

    victim.kill()
    killed_at = datetime.now(UTC)

    await until(lambda: leader(db, other_than=first_leader["id"]), timeout_s=20, what="another worker to lead")
    await until(lambda: count_at_least(db, schedule, 10), timeout_s=30, what="ten scheduled jobs")
    await act(api, auth, schedule, "pause")

    slots = assert_one_job_per_contiguous_second(schedule, await slot_jobs(db, schedule))
    assert slots[0] < killed_at < slots[-1] - 2 * SECOND, "the slots span the hand-over"
