"""Bulk operations: a filter and an action, previewed with a count, confirmed, then carried
out a batch at a time by the leader's walk (flows/bulk.py), guarded against jobs whose
state moved, with progress, cancel and a summary."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from redis import asyncio as aioredis

from jobq_core import names
from jobq_core.dispatch.channel import DispatchChannel
from jobq_core.dispatch.wire import epoch_ms
from jobq_core.flows import bulk
from jobq_core.model.priority import score
from jobq_core.pg import apikeys
from jobq_core.pg.apikeys import Scope
from tests.conftest import Servers
from tests.integration.api_helpers import Json, assert_problem, set_job, submit_batch
from tests.integration.conftest import StartWorker
from tests.support.wait import until


@pytest.fixture
async def channel(servers: Servers) -> AsyncIterator[DispatchChannel]:
    channel = DispatchChannel.from_url(servers.redis_url)
    yield channel
    await channel.close()


async def preview(api: httpx.AsyncClient, auth: dict[str, str], **body: object) -> Json:
    response = await api.post("/v1/bulk-operations", json=body, headers=auth)
    assert response.status_code == 201, response.text
    operation: Json = response.json()
    return operation


async def read(api: httpx.AsyncClient, auth: dict[str, str], operation_id: str) -> Json:
    response = await api.get(f"/v1/bulk-operations/{operation_id}", headers=auth)
    assert response.status_code == 200, response.text
    operation: Json = response.json()
    return operation


async def confirm(api: httpx.AsyncClient, auth: dict[str, str], operation_id: str) -> Json:
    response = await api.post(f"/v1/bulk-operations/{operation_id}/confirm", headers=auth)
    assert response.status_code == 200, response.text
    operation: Json = response.json()
    return operation


async def queued_jobs(api: httpx.AsyncClient, auth: dict[str, str], n: int, queue: str, **job: object) -> list[str]:
    jobs = (await submit_batch(api, auth, [{"type": "jobq.noop", "queue": queue, **job} for _ in range(n)]))["jobs"]
    return [j["id"] for j in jobs]


async def dead_jobs(api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, n: int, queue: str) -> list[str]:
    """`n` jobs that failed their one attempt (their first messages are left in Redis:
    a worker that takes one finds the job is not waiting and drops it)."""
    ids = await queued_jobs(api, auth, n, queue)
    await db.execute(
        "UPDATE jobq_jobs SET status = 'dead', attempts = 1, finished_at = now() WHERE id = ANY($1::uuid[])", ids
    )
    return ids


async def statuses(db: asyncpg.Pool) -> dict[str, str]:
    return dict(await db.fetch("SELECT id::text, status FROM jobq_jobs"))


async def test_a_preview_counts_and_changes_nothing_then_the_walk_retries_every_match(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, channel: DispatchChannel
) -> None:
    wanted = await dead_jobs(api, auth, db, 7, "email")
    others = await dead_jobs(api, auth, db, 3, "default")

    operation = await preview(api, auth, action="retry", filter={"status": ["dead"], "queue": "email"})

    assert operation["status"] == "preview"
    assert operation["matched"] == {"value": 7, "exact": True}
    assert await bulk.run_until_idle(db, channel, batch=3) == 0  # not confirmed: nothing runs
    assert await db.fetchval("SELECT count(*) FROM jobq_jobs WHERE status = 'dead'") == 10

    confirmed = await api.post(f"/v1/bulk-operations/{operation['id']}/confirm", headers=auth)
    assert confirmed.status_code == 200, confirmed.text
    assert await bulk.run_until_idle(db, channel, batch=3) == 3

    done = await read(api, auth, operation["id"])
    assert (done["status"], done["processed"], done["changed"], done["skipped"]) == ("done", 7, 7, 0)
    now = await statuses(db)
    assert {now[i] for i in wanted} == {"queued"}
    assert {now[i] for i in others} == {"dead"}
    audit = (await api.get("/v1/audit", params={"action": "bulk.confirm"}, headers=auth)).json()["entries"]
    assert [(e["target"], e["detail"]["action"], e["detail"]["matched"]) for e in audit] == [
        (operation["id"], "retry", 7)
    ]


async def test_jobs_whose_state_moved_are_skipped_and_a_cancel_stops_the_next_batch(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, channel: DispatchChannel
) -> None:
    ids = await dead_jobs(api, auth, db, 6, "email")
    operation = await preview(api, auth, action="delete", filter={"queue": "email"})
    await api.post(f"/v1/bulk-operations/{operation['id']}/confirm", headers=auth)
    # One submit gives its jobs one created_at, so the walk (newest first) takes the
    # smallest id last: that one is running by then.
    await db.execute("UPDATE jobq_jobs SET status = 'running' WHERE id = $1::uuid", min(ids))

    assert await bulk.run_batch(db, channel, batch=2)
    cancelled = await api.post(f"/v1/bulk-operations/{operation['id']}/cancel", headers=auth)
    assert cancelled.status_code == 200, cancelled.text
    assert not await bulk.run_batch(db, channel, batch=2)

    after = await read(api, auth, operation["id"])
    assert (after["status"], after["processed"], after["changed"]) == ("cancelled", 2, 2)
    assert await db.fetchval("SELECT count(*) FROM jobq_jobs") == 4
    assert_problem(await api.post(f"/v1/bulk-operations/{operation['id']}/cancel", headers=auth), 409)
    assert_problem(await api.post(f"/v1/bulk-operations/{operation['id']}/confirm", headers=auth), 409)

    again = await preview(api, auth, action="delete", filter={"queue": "email"})
    await api.post(f"/v1/bulk-operations/{again['id']}/confirm", headers=auth)
    await bulk.run_until_idle(db, channel, batch=2)
    summary = await read(api, auth, again["id"])
    assert (summary["processed"], summary["changed"], summary["skipped"]) == (4, 3, 1)  # the running one stays


async def test_a_leader_retries_every_dead_job_in_batches_and_the_workers_run_them(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, start_worker: StartWorker
) -> None:
    ids = await dead_jobs(api, auth, db, 2 * bulk.BATCH + 200, "default")
    await start_worker()  # the only worker: it leads, and carries the operation out

    operation = await preview(api, auth, action="retry", filter={"status": ["dead"]})
    await confirm(api, auth, operation["id"])

    async def finished() -> Json | None:
        now = await read(api, auth, operation["id"])
        return now if now["status"] == "done" else None

    done = await until(finished, timeout_s=30, what="the bulk retry to finish")
    assert (done["processed"], done["changed"], done["skipped"]) == (len(ids), len(ids), 0)
    assert done["finished_at"] is not None

    async def all_succeeded() -> bool:
        return set((await statuses(db)).values()) == {"succeeded"}

    await until(all_succeeded, timeout_s=60, what="every retried job to succeed")
    attempts = await db.fetch("SELECT DISTINCT attempts FROM jobq_jobs")
    assert [r["attempts"] for r in attempts] == [2]


async def test_two_walks_at_once_change_each_job_once(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, channel: DispatchChannel
) -> None:
    """Two leaders for a moment (an old one not yet told it lost its lock): each batch
    commits only from the position it read, so none is done twice."""
    ids = await dead_jobs(api, auth, db, 45, "email")
    operation = await preview(api, auth, action="retry", filter={"queue": "email"})
    await confirm(api, auth, operation["id"])

    await asyncio.gather(bulk.run_until_idle(db, channel, batch=4), bulk.run_until_idle(db, channel, batch=4))

    done = await read(api, auth, operation["id"])
    assert (done["status"], done["processed"], done["changed"], done["skipped"]) == ("done", 45, 45, 0)
    attempts = await db.fetch("SELECT max_attempts, count(*) FROM jobq_jobs WHERE id = ANY($1::uuid[]) GROUP BY 1", ids)
    assert [tuple(r) for r in attempts] == [(3, 45)]  # retried once each: noop's 3, not one more per walk
    assert set((await statuses(db)).values()) == {"queued"}


async def test_a_new_priority_moves_waiting_messages_in_redis(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    db: asyncpg.Pool,
    channel: DispatchChannel,
    redis_client: aioredis.Redis,
) -> None:
    waiting = await queued_jobs(api, auth, 3, "email")
    await queued_jobs(api, auth, 1, "email", priority=7)  # at 7 already: skipped
    running = await queued_jobs(api, auth, 1, "email")
    await set_job(db, running[0], "running", attempts=1)
    key = names.redis_queue_key("email")
    before = await redis_client.zscore(key, names.arq_job_id(waiting[0], 1))

    operation = await preview(api, auth, action="set_priority", priority=7, filter={"queue": "email"})
    assert operation["matched"]["value"] == 5
    await confirm(api, auth, operation["id"])
    await bulk.run_until_idle(db, channel)

    done = await read(api, auth, operation["id"])
    assert (done["processed"], done["changed"], done["skipped"]) == (5, 3, 2)
    rows = await db.fetch("SELECT id::text, priority, run_at FROM jobq_jobs WHERE id = ANY($1::uuid[])", waiting)
    for row in rows:
        assert row["priority"] == 7
        moved = await redis_client.zscore(key, names.arq_job_id(row["id"], 1))
        assert moved == score(epoch_ms(row["run_at"]), 7, epoch_ms(row["run_at"]))
        assert moved is not None and before is not None and moved < before
    assert await db.fetchval("SELECT priority FROM jobq_jobs WHERE id = $1::uuid", running[0]) == 0


async def test_a_bulk_cancel_ends_waiting_jobs_asks_running_ones_and_leaves_later_submits(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, channel: DispatchChannel
) -> None:
    waiting = await queued_jobs(api, auth, 4, "email")
    running = await queued_jobs(api, auth, 1, "email")
    await set_job(db, running[0], "running", attempts=1)
    operation = await preview(api, auth, action="cancel", filter={"queue": "email"})
    await confirm(api, auth, operation["id"])
    later = await queued_jobs(api, auth, 2, "email")

    await bulk.run_until_idle(db, channel, batch=2)

    done = await read(api, auth, operation["id"])
    assert (done["processed"], done["changed"], done["skipped"]) == (5, 5, 0)
    now = await statuses(db)
    assert {now[i] for i in waiting} == {"cancelled"}
    assert {now[i] for i in later} == {"queued"}
    assert now[running[0]] == "running"
    asked = await db.fetchval("SELECT cancel_requested_at FROM jobq_jobs WHERE id = $1::uuid", running[0])
    assert asked is not None


async def test_bad_input_names_its_field_and_stores_nothing(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    reader = {"Authorization": f"Bearer {await apikeys.create(db, 'reader', [Scope.JOBS_READ])}"}
    cases: list[tuple[Json, str]] = [
        ({"action": "explode"}, "action"),
        ({"action": "set_priority"}, "priority"),
        ({"action": "retry", "priority": 5}, "priority"),
        ({"action": "set_priority", "priority": 101}, "priority"),
        ({"action": "retry", "filter": {"payload": ["nope"]}}, "filter.payload[0]"),
        ({"action": "retry", "filter": {"status": ["sleeping"]}}, "filter.status[0]"),
        ({"action": "retry", "filter": {"colour": "red"}}, "filter.colour"),
    ]
    for body, field in cases:
        assert_problem(await api.post("/v1/bulk-operations", json=body, headers=auth), 422, field)
    assert (await api.post("/v1/bulk-operations", json={"action": "retry"}, headers=reader)).status_code == 403
    assert await db.fetchval("SELECT count(*) FROM jobq_bulk_operations") == 0
    missing = "/v1/bulk-operations/00000000-0000-0000-0000-000000000000"
    assert_problem(await api.get(missing, headers=auth), 404)


async def test_a_preview_counts_exactly_past_where_the_job_count_estimates(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    """The number someone confirms is counted, not PostgreSQL's estimate, up to a million."""
    many = 10_050  # past GET /v1/jobs/count's exact limit of 10,000
    await db.execute(
        "INSERT INTO jobq_jobs (id, type, queue, status, payload, max_attempts, timeout_s, run_at, finished_at,"
        " tags) SELECT gen_random_uuid(), 'jobq.noop', 'default', 'dead', '{}', 1, 30, now(), now(), ARRAY['many']"
        " FROM generate_series(1, $1)",
        many,
    )
    count = (await api.get("/v1/jobs/count", params={"tag": "many"}, headers=auth)).json()["count"]
    operation = await preview(api, auth, action="retry", filter={"tag": "many"})

    assert count["exact"] is False
    assert operation["matched"] == {"value": many, "exact": True}
