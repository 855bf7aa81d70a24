"""Schedules declared in code (an ARQ app's cron jobs), reconciled at start-up against PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from jobq_core.dispatch.channel import DispatchChannel
from jobq_core.errors import ConfigurationError
from jobq_core.flows.declared_schedules import DeclaredSchedule, Reconciled, reconcile
from jobq_core.model import cron
from jobq_core.model.cron import next_slot
from jobq_core.pg import schedules
from jobq_core.pg.db import create_pool
from jobq_core.pg.schedules import JobTemplate
from tests.conftest import Servers
from tests.integration.api_helpers import PROBLEM_TYPE_BASE, assert_problem, queued_messages

OWNER = "arq:arq:queue"
OTHER = "arq:reports"
EVERY_MINUTE = "0 * * * * *"
ARGS = {"args": [], "kwargs": {}}


def declared(name: str, expression: str = EVERY_MINUTE, timezone: str = "UTC", **template: Any) -> DeclaredSchedule:
    """A declared schedule of jobq.noop on the default queue, but for what is given."""
    run_at_startup = template.pop("run_at_startup", False)
    fields = {"type": "jobq.noop", "payload": ARGS, "queue": "default", "priority": 0, "max_attempts": 1}
    fields.update({"timeout_s": 300.0, **template})
    return DeclaredSchedule(name, expression, timezone, JobTemplate(**fields), run_at_startup=run_at_startup)


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def channel(servers: Servers) -> AsyncIterator[DispatchChannel]:
    """The dispatch channel on the session's Redis."""
    client = DispatchChannel.from_url(servers.redis_url)
    yield client
    await client.close()


async def rows(db: asyncpg.Pool) -> dict[str, asyncpg.Record]:
    """Every schedule, by name."""
    return {row["name"]: row for row in await db.fetch("SELECT * FROM jobq_schedules")}


async def by_hand(db: asyncpg.Pool, name: str) -> asyncpg.Record:
    """A schedule made the API's way (declared_by NULL)."""
    return await schedules.create(
        db,
        name=name,
        expression="0 0 * * *",
        timezone="UTC",
        template=declared(name).template,
        missed=cron.Missed.RUN_ONCE,
        paused=False,
        now=_now(),
    )


async def test_missing_schedules_are_created_declared_by_their_owner_first_due_at_their_next_slot(
    db: asyncpg.Pool, channel: DispatchChannel
) -> None:
    now = _now()
    wanted = [declared("cron:tick"), declared("cron:nightly", "0 30 2 * * *", "Europe/Paris", max_attempts=4)]

    result = await reconcile(db, channel, OWNER, wanted, now)

    assert result == Reconciled(created=["cron:tick", "cron:nightly"])
    stored = await rows(db)
    assert sorted(stored) == ["cron:nightly", "cron:tick"]
    for d in wanted:
        row = stored[d.name]
        assert (row["cron"], row["timezone"], row["job"], row["declared_by"]) == (
            d.expression,
            d.timezone,
            d.template.as_json(),
            OWNER,
        )
        assert (row["missed"], row["paused"], row["last_run_at"]) == ("skip", False, None)
        assert row["next_run_at"] == next_slot(d.expression, d.timezone, now)
    assert await db.fetchval("SELECT count(*) FROM jobq_jobs") == 0  # no run_at_startup: nothing runs yet


async def test_reconciling_the_same_declarations_again_changes_nothing(
    db: asyncpg.Pool, channel: DispatchChannel
) -> None:
    wanted = [declared("cron:a"), declared("cron:b", "*/5 * * * * *")]
    await reconcile(db, channel, OWNER, wanted, _now())
    before = await rows(db)

    result = await reconcile(db, channel, OWNER, wanted, _now() + timedelta(hours=1))

    assert result == Reconciled(unchanged=["cron:a", "cron:b"])
    assert await rows(db) == before  # next_run_at and updated_at included


async def test_a_changed_schedule_is_updated_in_place_its_next_run_moving_only_with_its_timing(
    db: asyncpg.Pool, channel: DispatchChannel
) -> None:
    start = _now()
    await reconcile(db, channel, OWNER, [declared("cron:report")], start)
    first = (await rows(db))["cron:report"]

    later = start + timedelta(hours=2)
    result = await reconcile(db, channel, OWNER, [declared("cron:report", timeout_s=60.0, max_attempts=5)], later)
    assert result == Reconciled(changed=["cron:report"])
    row = (await rows(db))["cron:report"]
    assert row["id"] == first["id"]
    assert row["job"] == {**first["job"], "timeout_s": 60.0, "max_attempts": 5}
    assert row["next_run_at"] == first["next_run_at"]  # the template alone changed: the slot stays
    assert row["updated_at"] > first["updated_at"]

    new_timing = declared("cron:report", "0 0 9 * * *", timeout_s=60.0, max_attempts=5)
    result = await reconcile(db, channel, OWNER, [new_timing], later)
    assert result == Reconciled(changed=["cron:report"])
    row = (await rows(db))["cron:report"]
    assert (row["id"], row["cron"]) == (first["id"], "0 0 9 * * *")
    assert row["next_run_at"] == next_slot("0 0 9 * * *", "UTC", later)

    new_zone = declared("cron:report", "0 0 9 * * *", "Asia/Tokyo", timeout_s=60.0, max_attempts=5)
    result = await reconcile(db, channel, OWNER, [new_zone], later)
    assert result == Reconciled(changed=["cron:report"])
    row = (await rows(db))["cron:report"]
    assert (row["id"], row["timezone"]) == (first["id"], "Asia/Tokyo")
    assert row["next_run_at"] == next_slot("0 0 9 * * *", "Asia/Tokyo", later)


async def test_a_schedule_no_longer_declared_is_removed_and_no_other_owners_or_hand_made_one_is_touched(
    db: asyncpg.Pool, channel: DispatchChannel
) -> None:
    now = _now()
    await reconcile(db, channel, OWNER, [declared("cron:keep"), declared("cron:drop")], now)
    await reconcile(db, channel, OTHER, [declared("cron:theirs")], now)
    await by_hand(db, "made-by-hand")
    before = await rows(db)

    result = await reconcile(db, channel, OWNER, [declared("cron:keep")], now)

    assert result == Reconciled(removed=["cron:drop"], unchanged=["cron:keep"])
    after = await rows(db)
    assert sorted(after) == ["cron:keep", "cron:theirs", "made-by-hand"]
    assert {name: after[name] for name in after} == {name: before[name] for name in after}

    result = await reconcile(db, channel, OWNER, [], now)
    assert result == Reconciled(removed=["cron:keep"])
    assert sorted(await rows(db)) == ["cron:theirs", "made-by-hand"]


@pytest.mark.parametrize(
    ("owner_of_the_name", "said"),
    [(None, "made through the API: .* rename or delete that one"), (OTHER, f"declared in code by {OTHER}")],
)
async def test_a_name_held_by_a_schedule_not_of_this_owner_stops_the_reconcile_changing_nothing(
    db: asyncpg.Pool, channel: DispatchChannel, owner_of_the_name: str | None, said: str
) -> None:
    now = _now()
    if owner_of_the_name is None:
        await by_hand(db, "cron:tick")
    else:
        await reconcile(db, channel, owner_of_the_name, [declared("cron:tick", "0 0 * * * *")], now)
    await reconcile(db, channel, OWNER, [declared("cron:old")], now)
    before = await rows(db)

    wanted = [declared("cron:new", run_at_startup=True), declared("cron:tick", run_at_startup=True)]
    with pytest.raises(ConfigurationError, match=f"{OWNER} declares schedule 'cron:tick', .* {said}") as raised:
        await reconcile(db, channel, OWNER, wanted, now)

    assert "give the declared one another name" in str(raised.value)
    assert await rows(db) == before  # cron:new not made, cron:old not removed, cron:tick untouched
    assert await db.fetchval("SELECT count(*) FROM jobq_jobs") == 0


async def test_a_name_declared_twice_is_refused(db: asyncpg.Pool, channel: DispatchChannel) -> None:
    with pytest.raises(ConfigurationError, match="more than one schedule named 'cron:tick'"):
        await reconcile(db, channel, OWNER, [declared("cron:tick"), declared("cron:tick", "*/2 * * * * *")], _now())
    assert await rows(db) == {}


async def test_workers_starting_together_end_with_one_row_per_name(
    servers: Servers, db: asyncpg.Pool, channel: DispatchChannel
) -> None:
    wanted = [declared(f"cron:job{i}", f"{i} * * * * *") for i in range(5)]
    pools = [await create_pool(servers.database_url, size=1) for _ in range(4)]
    try:
        results = await asyncio.gather(*(reconcile(pool, channel, OWNER, wanted, _now()) for pool in pools))
    finally:
        for pool in pools:
            await pool.close()

    names = [d.name for d in wanted]
    assert sorted(r.created for r in results) == [[], [], [], names]  # one made them, the others found them
    assert [r.unchanged for r in results].count(names) == 3
    counted = await db.fetch("SELECT name, count(*) AS n FROM jobq_schedules GROUP BY name ORDER BY name")
    assert [(r["name"], r["n"]) for r in counted] == [(name, 1) for name in names]


async def test_run_at_startup_submits_one_job_now_per_reconcile_dispatched_outside_the_slots(
    db: asyncpg.Pool, channel: DispatchChannel, redis_client: aioredis.Redis
) -> None:
    wanted = [declared("cron:warm", run_at_startup=True), declared("cron:cold")]

    first = await reconcile(db, channel, OWNER, wanted, _now())
    second = await reconcile(db, channel, OWNER, wanted, _now())

    schedule = (await rows(db))["cron:warm"]
    jobs = await db.fetch("SELECT * FROM jobq_jobs ORDER BY created_at, id")
    assert [job["id"] for job in jobs] == [first.started[0]["id"], second.started[0]["id"]]
    assert (len(first.started), len(second.started)) == (1, 1)
    for job in jobs:
        assert (job["type"], job["payload"], job["queue"], job["status"]) == ("jobq.noop", ARGS, "default", "queued")
        assert (job["schedule_id"], job["idempotency_key"], job["tags"]) == (
            schedule["id"],
            None,
            ["schedule:cron:warm"],
        )
        assert (job["max_attempts"], job["timeout_s"]) == (1, 300.0)
    assert sorted(await queued_messages(redis_client)) == sorted(f"{job['id']}:1" for job in jobs)
    assert (await rows(db))["cron:warm"]["next_run_at"] == schedule["next_run_at"]  # the slots are not moved


async def test_a_paused_schedule_neither_runs_at_startup_nor_is_resumed_by_a_reconcile(
    db: asyncpg.Pool, channel: DispatchChannel
) -> None:
    wanted = [declared("cron:warm", run_at_startup=True)]
    await reconcile(db, channel, OWNER, wanted, _now())
    await db.execute("UPDATE jobq_schedules SET paused = true")
    jobs_before = await db.fetchval("SELECT count(*) FROM jobq_jobs")

    result = await reconcile(db, channel, OWNER, [declared("cron:warm", max_attempts=2, run_at_startup=True)], _now())

    assert result == Reconciled(changed=["cron:warm"])
    assert (await rows(db))["cron:warm"]["paused"] is True
    assert await db.fetchval("SELECT count(*) FROM jobq_jobs") == jobs_before


# --- the API -------------------------------------------------------------------------


async def test_the_api_refuses_to_change_or_delete_a_declared_schedule_but_pauses_and_resumes_it(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, channel: DispatchChannel
) -> None:
    await reconcile(db, channel, OWNER, [declared("cron:tick")], _now())
    schedule = (await rows(db))["cron:tick"]
    url = f"/v1/schedules/{schedule['id']}"

    shown = (await api.get(url, headers=auth)).json()
    assert (shown["name"], shown["declared_by"]) == ("cron:tick", OWNER)

    for response in [
        await api.patch(url, json={"cron": "* * * * * *"}, headers=auth),
        await api.delete(url, headers=auth),
    ]:
        problem = assert_problem(response, 409)
        assert problem["type"] == PROBLEM_TYPE_BASE + "schedule-declared-in-code"
        assert problem["declared_by"] == OWNER
        assert f"schedule 'cron:tick' is declared in code by {OWNER}: change or remove it there" in problem["detail"]
    assert (await rows(db))["cron:tick"] == schedule

    paused = await api.post(f"{url}/pause", headers=auth)
    assert (paused.status_code, paused.json()["paused"]) == (200, True)
    resumed = await api.post(f"{url}/resume", headers=auth)
    assert (resumed.status_code, resumed.json()["paused"]) == (200, False)

    hand_made = await by_hand(db, "made-by-hand")
    assert (await api.get(f"/v1/schedules/{hand_made['id']}", headers=auth)).json()["declared_by"] is None
    assert (await api.delete(f"/v1/schedules/{hand_made['id']}", headers=auth)).status_code == 204
