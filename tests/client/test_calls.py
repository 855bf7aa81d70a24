"""Every call of the client, sync and async, against the API run as uvicorn and real workers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from jobq_client import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    ValidationError,
)
from jobq_client.models import JobIn, ScheduleJobIn
from jobq_core.pg.apikeys import Scope
from tests.client.conftest import Both, Counting, MakeClient, new_key
from tests.integration.conftest import StartWorker


async def stored(db: asyncpg.Pool) -> int:
    return int(await db.fetchval("SELECT count(*) FROM jobq_jobs"))


# --- jobs ----------------------------------------------------------------------------------


async def test_a_submitted_job_is_stored_as_asked_runs_and_is_read_back(
    jobq: Both, db: asyncpg.Pool, start_worker: StartWorker
) -> None:
    await start_worker()
    job = await jobq.submit(
        "jobq.sleep",
        {"seconds": 0.1},
        queue="default",
        priority=7,
        max_attempts=2,
        timeout_s=30,
        tags=["client", jobq.kind],
    )
    assert (job.type, job.queue, job.priority, job.max_attempts, job.timeout_s) == ("jobq.sleep", "default", 7, 2, 30)
    assert job.tags == ["client", jobq.kind] and job.payload == {"seconds": 0.1}
    assert job.status in {"queued", "running", "succeeded"}
    assert await db.fetchval("SELECT priority FROM jobq_jobs WHERE id = $1::uuid", job.id) == 7

    done = await jobq.wait(job.id, timeout=20)

    assert done.status == "succeeded" and done.result == {"slept_s": 0.1}
    read = await jobq.get_job(job.id)
    assert read.id == job.id and read.status == "succeeded" and read.history and read.history[0].outcome == "succeeded"


async def test_a_delayed_submit_is_scheduled_for_then(jobq: Both) -> None:
    at = datetime.now(UTC) + timedelta(hours=1)
    by_time = await jobq.submit("jobq.noop", run_at=at)
    by_delay = await jobq.submit("jobq.noop", delay_s=3600)

    assert by_time.status == by_delay.status == "scheduled"
    assert abs((by_time.run_at - at).total_seconds()) < 0.01
    assert timedelta(minutes=59) < by_delay.run_at - datetime.now(UTC) <= timedelta(hours=1)


async def test_each_submit_has_its_own_key_and_a_repeated_key_returns_the_first_job(
    jobq: Both, db: asyncpg.Pool
) -> None:
    first, second = await jobq.submit("jobq.noop"), await jobq.submit("jobq.noop")
    assert first.id != second.id and first.idempotency_key and second.idempotency_key
    assert first.idempotency_key != second.idempotency_key

    mine = await jobq.submit("jobq.noop", idempotency_key="welcome-ada")
    again = await jobq.submit("jobq.noop", {"ignored": True}, idempotency_key="welcome-ada")

    assert again.id == mine.id and mine.idempotency_key == "welcome-ada"
    assert await stored(db) == 3


async def test_a_batch_goes_in_chunks_in_order_reporting_progress(
    make_client: MakeClient, api_url: str, admin_key: str, db: asyncpg.Pool
) -> None:
    counting = Counting()
    jobq = await make_client(api_url, admin_key, transport=counting)
    progress: list[tuple[int, int]] = []
    items = [
        JobIn(type="jobq.noop", payload={"n": i}) if i % 2 else {"type": "jobq.noop", "payload": {"n": i}}
        for i in range(25)
    ]

    jobs = await jobq.submit_batch(items, chunk_size=10, on_progress=lambda done, total: progress.append((done, total)))

    assert [j.payload["n"] for j in jobs] == list(range(25))
    assert progress == [(10, 25), (20, 25), (25, 25)]
    assert counting.count("POST", "/v1/jobs/batch") == 3
    assert await stored(db) == 25
    assert all(j.idempotency_key for j in jobs), "a batch job without a key of its own gets one"
    assert await jobq.submit_batch([]) == []


async def test_a_bad_job_in_a_later_chunk_is_named_by_its_place_in_the_whole_batch(
    jobq: Both, db: asyncpg.Pool
) -> None:
    items = [{"type": "jobq.noop"} for _ in range(15)]
    items[12] = {"type": "no.such.type"}

    with pytest.raises(ValidationError) as caught:
        await jobq.submit_batch(items, chunk_size=5)

    error = caught.value
    assert [f.name for f in error.fields] == ["jobs[12].type"]
    assert "jobs[12].type" in str(error) and error.slug == "unknown-job-type"
    assert len(error.submitted) == 10 and await stored(db) == 10  # the first two chunks; the third stored nothing


async def test_listing_filters_and_iterating_follows_every_page(
    make_client: MakeClient, api_url: str, admin_key: str
) -> None:
    counting = Counting()
    jobq = await make_client(api_url, admin_key, transport=counting)
    mine = [await jobq.submit("jobq.noop", {"n": i}, tags=["mine"]) for i in range(7)]
    await jobq.submit("jobq.noop", tags=["other"])
    await jobq.submit("jobq.noop", delay_s=600, tags=["mine"])

    page = await jobq.list_jobs(tag="mine", status="queued", limit=3)
    assert [j.id for j in page.jobs] == [j.id for j in reversed(mine)][:3] and page.next_cursor
    several = await jobq.list_jobs(tag="mine", status=["queued", "scheduled"])
    assert len(several.jobs) == 8 and several.next_cursor is None
    assert (await jobq.list_jobs(type="jobq.noop", queue="default", payload=["n=3"])).jobs[0].id == mine[3].id
    after = (await jobq.list_jobs(created_after=mine[5].created_at)).jobs
    assert {j.id for j in mine[6:]} <= {j.id for j in after} and mine[4].id not in {j.id for j in after}
    counted = (await jobq.count_jobs(tag="mine", status=["queued", "scheduled"])).count
    assert (counted.value, counted.exact) == (8, True)

    before = counting.count("GET", "/v1/jobs")
    every = await jobq.iter_jobs(tag="mine", status="queued", page_size=3)

    assert [j.id for j in every] == [j.id for j in reversed(mine)]
    assert counting.count("GET", "/v1/jobs") - before == 3


async def test_cancel_retry_run_now_and_delete_act_on_the_job(jobq: Both) -> None:
    job = await jobq.submit("jobq.noop", delay_s=3600)

    cancelled = await jobq.cancel_job(job.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(Conflict) as caught:
        await jobq.cancel_job(job.id)
    assert caught.value.status == 409 and caught.value.problem["job_status"] == "cancelled"

    retried = await jobq.retry_job(job.id)
    assert retried.status == "queued" and retried.attempts < retried.max_attempts

    later = await jobq.submit("jobq.noop", delay_s=3600)
    now = await jobq.run_job_now(uuid.UUID(later.id))
    assert now.status == "queued" and now.run_at < later.run_at

    assert await jobq.delete_job(job.id) is None
    with pytest.raises(NotFound):
        await jobq.get_job(job.id)


async def test_queues_pause_and_resume(jobq: Both) -> None:
    await jobq.submit("jobq.noop", queue="reports")

    queues = {q.name: q for q in await jobq.list_queues()}
    assert queues["reports"].ready == 1 and not queues["reports"].paused

    assert (await jobq.pause_queue("reports")).paused is True
    assert {q.name: q.paused for q in await jobq.list_queues()}["reports"] is True
    assert (await jobq.resume_queue("reports")).paused is False


async def test_workers_job_types_and_the_calling_key(jobq: Both, start_worker: StartWorker) -> None:
    await start_worker()

    workers = await jobq.list_workers()
    types = {t.name: t for t in await jobq.list_job_types()}
    me = await jobq.me()

    assert [w.alive for w in workers] == [True] and workers[0].queues == ["default"]
    assert types["jobq.sleep"].payload_schema["properties"]["seconds"]["type"] == "number"
    assert me.name == "test admin" and me.can_admin and me.scopes == ["admin"]


async def test_every_schedule_call(jobq: Both) -> None:
    schedule = await jobq.create_schedule(
        "nightly", "0 2 * * *", {"type": "jobq.noop", "tags": ["report"]}, timezone="Europe/Paris", missed="run_once"
    )
    assert (schedule.name, schedule.timezone, schedule.missed) == ("nightly", "Europe/Paris", "run_once")
    assert len(schedule.next_runs) == 10

    paused_one = await jobq.create_schedule("other", "*/5 * * * *", ScheduleJobIn(type="jobq.noop"), paused=True)
    assert paused_one.paused and paused_one.next_runs == []
    assert [s.name for s in await jobq.list_schedules()] == ["nightly", "other"]
    assert (await jobq.get_schedule(schedule.id)).cron == "0 2 * * *"

    changed = await jobq.update_schedule(schedule.id, cron="30 2 * * *", job=ScheduleJobIn(type="jobq.noop"))
    assert changed.cron == "30 2 * * *" and changed.job["tags"] == []
    assert (await jobq.pause_schedule(schedule.id)).paused is True
    assert (await jobq.resume_schedule(schedule.id)).paused is False

    job = await jobq.run_schedule(schedule.id)
    assert job.schedule_id == schedule.id
    assert [j.id for j in await jobq.schedule_runs(schedule.id, limit=5)] == [job.id]

    assert await jobq.delete_schedule(schedule.id) is None
    with pytest.raises(NotFound):
        await jobq.get_schedule(schedule.id)


# --- errors --------------------------------------------------------------------------------


async def test_field_errors_are_validation_errors_naming_each_field(jobq: Both, db: asyncpg.Pool) -> None:
    cases = [
        (jobq.submit("jobq.sleep", {"seconds": "soon"}), "payload.seconds", "invalid-payload"),
        (jobq.submit("jobq.noop", priority=1000), "priority", "validation"),
        (jobq.submit("no.such.type"), "type", "unknown-job-type"),
        (jobq.create_schedule("bad", "not a cron", {"type": "jobq.noop"}), "cron", "validation"),
        (jobq.list_jobs(limit=0), "limit", "validation"),
    ]
    for call, field, slug in cases:
        with pytest.raises(ValidationError) as caught:
            await call
        error = caught.value
        assert isinstance(error, BadRequest) and error.status == 422 and error.slug == slug
        assert [f.name for f in error.fields] == [field], error.fields
        assert error.fields[0].message and field in str(error)
    assert await stored(db) == 0


async def test_a_missing_object_is_not_found(jobq: Both) -> None:
    with pytest.raises(NotFound) as caught:
        await jobq.get_job(uuid.uuid4())
    assert caught.value.status == 404 and caught.value.slug == "not-found"
    assert str(caught.value).startswith("No such object: GET /v1/jobs/")
    with pytest.raises(NotFound):
        await jobq.retry_job(uuid.uuid4())
    with pytest.raises(ValidationError) as invalid:  # not an id at all
        await jobq.get_job("not-an-id")
    assert [f.name for f in invalid.value.fields] == ["job_id"]
    with pytest.raises(NotFound):  # one path segment, whatever it holds: never GET /v1/queues
        await jobq.get_job("../queues")


async def test_a_wrong_key_is_unauthorized_and_a_read_key_may_not_write(
    make_client: MakeClient, api_url: str, db: asyncpg.Pool
) -> None:
    stranger = await make_client(api_url, "jobq_not-a-real-key")
    with pytest.raises(Unauthorized) as caught:
        await stranger.list_queues()
    assert caught.value.status == 401

    reader = await make_client(api_url, await new_key(db, Scope.JOBS_READ))
    assert [q.name for q in await reader.list_queues()] == ["default"]
    with pytest.raises(Forbidden) as refused:
        await reader.submit("jobq.noop")
    assert refused.value.status == 403 and "jobs:write" in str(refused.value)
