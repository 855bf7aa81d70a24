"""The submit path's shortcuts, against the real PostgreSQL and Redis: the one-statement
insert marks its own transaction (the relay is not woken for jobs the API dispatches
itself), concurrent single submits share a statement, and the job-type cache keeps
compiled validators across re-reads."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from jobq_api.models import JobIn
from jobq_core.dispatch.channel import DispatchChannel
from jobq_core.flows.submit import SingleSubmits, build
from jobq_core.model.jobtype import JobType
from jobq_core.names import NEW_JOBS_CHANNEL, redis_queue_key
from jobq_core.pg import jobtypes, store
from tests.conftest import Servers
from tests.integration.api_helpers import submit, submit_batch
from tests.support.wait import until

NOOP = JobType("test.noop", "default", {"type": "object"}, 30.0, 3)


@pytest.fixture
async def notifications(servers: Servers, db: asyncpg.Pool) -> AsyncIterator[list[str]]:
    """Payloads of the `jobq_new_jobs` notifications sent while the test runs."""
    got: list[str] = []
    conn = await asyncpg.connect(servers.database_url)
    await conn.add_listener(NEW_JOBS_CHANNEL, lambda *args: got.append(args[3]))
    yield got
    await conn.close()


def _new_jobs(n: int) -> list[store.NewJob]:
    now = datetime.now(UTC)
    return [build(JobIn(type=NOOP.name, payload={"i": i}), NOOP, now) for i in range(n)]


async def _unmarked_insert(conn: asyncpg.Connection | asyncpg.Pool) -> None:
    """An insert that is not jobq's (no mark): the trigger must wake the relay for it."""
    await conn.execute(
        "INSERT INTO jobq_jobs (id, type, queue, status, payload, max_attempts, timeout_s, run_at)"
        " VALUES (gen_random_uuid(), $1, 'default', 'queued', '{}', 3, 30, now())",
        NOOP.name,
    )


async def _sentinel(db: asyncpg.Pool, notifications: list[str]) -> None:
    """Insert without the mark and wait for its notification: every earlier one has arrived too."""
    await _unmarked_insert(db)
    await until(lambda: _some(notifications), what="the sentinel insert's notification")


async def _some(items: list[str]) -> bool:
    return bool(items)


async def test_api_submits_do_not_wake_the_dispatch_relay(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, notifications: list[str]
) -> None:
    await submit(api, auth, type="jobq.noop")
    await submit_batch(api, auth, [{"type": "jobq.noop"}, {"type": "jobq.noop", "idempotency_key": "k"}])

    await _sentinel(db, notifications)

    assert notifications == [""], "only the sentinel insert, made without the mark, may notify"


async def test_the_self_dispatch_mark_ends_with_its_statement(db: asyncpg.Pool, notifications: list[str]) -> None:
    async with db.acquire() as conn:
        inserted = await store.insert_jobs(conn, _new_jobs(3))
        setting = await conn.fetchval("SELECT current_setting('jobq.dispatches', true)")
        await _unmarked_insert(conn)  # the same session, unmarked: notifies
    await until(lambda: _some(notifications), what="the unmarked insert's notification")

    assert inserted.created == [True, True, True]
    assert setting in (None, "")
    assert notifications == [""]


async def test_a_failing_row_stores_none_of_the_statements_rows(db: asyncpg.Pool) -> None:
    jobs = _new_jobs(3)
    bad = dataclasses.replace(jobs[1], max_attempts=0)  # violates the CHECK constraint

    with pytest.raises(asyncpg.CheckViolationError):
        await store.insert_jobs(db, [jobs[0], bad, jobs[2]])

    assert await db.fetchval("SELECT count(*) FROM jobq_jobs") == 0


async def test_the_type_cache_keeps_unchanged_validators_and_recompiles_changed_ones(db: asyncpg.Pool) -> None:
    other = JobType("test.other", "default", {"type": "object", "required": ["a"]}, 30.0, 3)
    await jobtypes.register(db, [NOOP, other])
    first = await jobtypes.load_all(db)
    changed = JobType("test.other", "default", {"type": "object", "required": ["b"]}, 30.0, 3)
    await jobtypes.register(db, [changed])

    second = await jobtypes.load_all(db, first)

    assert second["test.noop"] is first["test.noop"]
    assert second["test.other"] is not first["test.other"]
    assert second["test.other"].validator.is_valid({"b": 1})
    assert not second["test.other"].validator.is_valid({"a": 1})


@pytest.fixture
async def single_submits(db: asyncpg.Pool, redis_client: aioredis.Redis) -> SingleSubmits:
    await jobtypes.register(db, [NOOP])
    return SingleSubmits(db, DispatchChannel(redis_client))


async def _xmins(db: asyncpg.Pool, ids: list[uuid.UUID]) -> set[str]:
    """The inserting transaction of each row: rows of one statement share it."""
    rows = await db.fetch("SELECT xmin::text AS xmin FROM jobq_jobs WHERE id = ANY($1::uuid[])", ids)
    assert len(rows) == len(ids)
    return {r["xmin"] for r in rows}


async def test_concurrent_single_submits_share_a_statement_and_each_gets_its_own_job(
    single_submits: SingleSubmits, db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    jobs = _new_jobs(20)

    results = await asyncio.gather(*(single_submits.submit(job) for job in jobs))

    assert [r.jobs[0]["id"] for r in results] == [job.id for job in jobs]
    assert all(r.created == [True] and r.dispatched for r in results)
    # One statement, or two when the first went before the others arrived; never one each.
    assert len(await _xmins(db, [job.id for job in jobs])) <= 2
    assert await redis_client.zcard(redis_queue_key("default")) == 20


async def test_a_repeated_idempotency_key_in_one_group_makes_one_job(
    single_submits: SingleSubmits, db: asyncpg.Pool
) -> None:
    first, *same_key = (dataclasses.replace(job, idempotency_key="once") for job in _new_jobs(3))

    results = await asyncio.gather(*(single_submits.submit(job) for job in [first, *same_key]))

    assert {r.jobs[0]["id"] for r in results} == {first.id}
    assert [r.created for r in results] == [[True], [False], [False]]
    assert await db.fetchval("SELECT count(*) FROM jobq_jobs") == 1


async def test_a_bad_job_fails_its_own_submit_and_not_the_rest_of_its_group(
    single_submits: SingleSubmits, db: asyncpg.Pool
) -> None:
    first, good, bad, other = _new_jobs(4)
    bad = dataclasses.replace(bad, max_attempts=0)  # violates the CHECK constraint

    outcomes = await asyncio.gather(
        *(single_submits.submit(j) for j in (first, good, bad, other)), return_exceptions=True
    )

    assert isinstance(outcomes[2], asyncpg.CheckViolationError)
    stored = {r["id"] for r in await db.fetch("SELECT id FROM jobq_jobs")}
    assert stored == {first.id, good.id, other.id}
