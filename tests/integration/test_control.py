"""Acting on work in flight: cancel a running job, pause a queue, priorities, delays, pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from jobq_core.pg.db import Q
from tests.integration.api_helpers import submit
from tests.integration.conftest import StartWorker, wait_for_status
from tests.support.handlers import MODULE as TEST_HANDLERS
from tests.support.wait import until


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_cancelling_a_running_job_stops_it_and_it_is_not_retried(
    api: httpx.AsyncClient, auth: dict[str, str], start_worker: StartWorker
) -> None:
    await start_worker()
    job = await submit(api, auth, type="jobq.sleep", payload={"seconds": 60}, max_attempts=3)
    await wait_for_status(api, auth, job["id"], {"running"})

    response = await api.post(f"/v1/jobs/{job['id']}/cancel", headers=auth)
    assert response.status_code == 202
    assert response.json()["cancel_requested_at"] is not None

    cancelled = await wait_for_status(api, auth, job["id"], {"cancelled", "succeeded", "queued", "dead"}, timeout_s=10)
    assert (cancelled["status"], cancelled["attempts"]) == ("cancelled", 1)
    assert [a["outcome"] for a in cancelled["history"]] == ["cancelled"]


async def test_a_cancel_request_never_reaches_a_later_attempt_of_the_same_job(
    api: httpx.AsyncClient, auth: dict[str, str], start_worker: StartWorker, db: asyncpg.Pool
) -> None:
    """ARQ's abort bookkeeping would cancel a later job reusing the id; jobq cancels one attempt."""
    await start_worker()
    job = await submit(api, auth, type="jobq.sleep", payload={"seconds": 60})
    await wait_for_status(api, auth, job["id"], {"running"})
    await api.post(f"/v1/jobs/{job['id']}/cancel", headers=auth)
    await wait_for_status(api, auth, job["id"], {"cancelled"})
    await db.execute("UPDATE jobq_jobs SET payload = '{\"seconds\": 0.5}' WHERE id = $1::uuid", job["id"])

    retried = await api.post(f"/v1/jobs/{job['id']}/retry", headers=auth)
    assert retried.status_code == 200

    done = await wait_for_status(api, auth, job["id"], {"succeeded", "cancelled", "dead"})
    assert (done["status"], done["attempts"]) == ("succeeded", 2)
    assert done["cancel_requested_at"] is None
    assert [a["outcome"] for a in done["history"]] == ["cancelled", "succeeded"]


async def test_a_paused_queue_holds_its_jobs_while_others_run_then_resumes(
    api: httpx.AsyncClient, auth: dict[str, str], start_worker: StartWorker, db: asyncpg.Pool
) -> None:
    await start_worker(JOBQ_QUEUES="default,lane-b")
    paused = await api.post("/v1/queues/lane-b/pause", headers=auth)
    assert paused.json()["paused"] is True
    held = [await submit(api, auth, type="jobq.noop", queue="lane-b") for _ in range(5)]
    free = [await submit(api, auth, type="jobq.noop") for _ in range(5)]

    for job in free:
        await wait_for_status(api, auth, job["id"], {"succeeded"})
    started = await db.fetchval(
        "SELECT count(*) FROM jobq_jobs WHERE queue = 'lane-b' AND (started_at IS NOT NULL OR status <> 'queued')"
    )
    assert started == 0, "a job of the paused queue started"

    resumed = await api.post("/v1/queues/lane-b/resume", headers=auth)
    assert resumed.json()["paused"] is False
    for job in held:
        done = await wait_for_status(api, auth, job["id"], {"succeeded", "dead"})
        assert (done["status"], done["attempts"]) == ("succeeded", 1)


async def test_higher_priority_jobs_run_first_within_a_queue(
    api: httpx.AsyncClient, auth: dict[str, str], start_worker: StartWorker, db: asyncpg.Pool, tmp_path: Path
) -> None:
    await start_worker(JOBQ_CONCURRENCY="1", JOBQ_HANDLER_MODULES=TEST_HANDLERS)
    gate = tmp_path / "open"
    blocker = await submit(api, auth, type="test.gate", payload={"path": str(gate)})
    await wait_for_status(api, auth, blocker["id"], {"running"})
    # The only slot is held until every job below is waiting: no race with the submits.
    low = [await submit(api, auth, type="jobq.noop", priority=0) for _ in range(10)]
    high = [await submit(api, auth, type="jobq.noop", priority=10) for _ in range(5)]
    gate.touch()

    for job in [*low, *high]:
        await wait_for_status(api, auth, job["id"], {"succeeded"})
    order = [
        str(r["id"])
        for r in await db.fetch("SELECT id FROM jobq_jobs WHERE type = 'jobq.noop' ORDER BY started_at, id")
    ]
    assert set(order[:5]) == {j["id"] for j in high}, "high-priority jobs did not start first"
    assert order[5:] == [j["id"] for j in low], "equal priorities did not keep their order"


async def test_a_delayed_job_starts_within_a_second_of_its_time(
    api: httpx.AsyncClient, auth: dict[str, str], start_worker: StartWorker
) -> None:
    """Both ways of asking for later: `delay_s` and `run_at`."""
    await start_worker()
    run_at = (datetime.now(UTC) + timedelta(seconds=2.5)).isoformat()
    jobs = [
        await submit(api, auth, type="jobq.noop", delay_s=2),
        await submit(api, auth, type="jobq.noop", run_at=run_at),
    ]
    assert [j["status"] for j in jobs] == ["scheduled", "scheduled"]
    assert at(jobs[1]["run_at"]) == at(run_at)

    for job in jobs:
        done = await wait_for_status(api, auth, job["id"], {"succeeded"})
        late_s = (at(done["started_at"]) - at(job["run_at"])).total_seconds()
        assert 0 <= late_s < 1, f"started {late_s:.3f}s after its time"


async def test_finished_jobs_past_retention_are_pruned_and_others_kept(
    api: httpx.AsyncClient, auth: dict[str, str], start_worker: StartWorker, db: asyncpg.Pool
) -> None:
    insert = (
        "INSERT INTO jobq_jobs (id, type, queue, status, payload, max_attempts, timeout_s, run_at, finished_at)"
        " VALUES (gen_random_uuid(), 'jobq.noop', 'default', $1, '{}', 1, 1, now(), now() - make_interval(secs => $2))"
        " RETURNING id"
    )
    old_done = [await db.fetchval(insert, "succeeded", 7200.0) for _ in range(3)]
    old_cancelled = await db.fetchval(insert, "cancelled", 7200.0)
    recent_done = await db.fetchval(insert, "succeeded", 10.0)
    old_dead = await db.fetchval(insert, "dead", 7200.0)

    await start_worker(JOBQ_RETENTION_S="3600", JOBQ_DEAD_RETENTION_S="86400")

    async def pruned() -> bool:
        left = await db.fetchval(
            "SELECT count(*) FROM jobq_jobs WHERE id = ANY($1::uuid[])", [*old_done, old_cancelled]
        )
        return bool(left == 0)

    await until(pruned, timeout_s=20, what="old finished jobs to be pruned")
    kept = await db.fetchval("SELECT count(*) FROM jobq_jobs WHERE id = ANY($1::uuid[])", [recent_done, old_dead])
    assert kept == 2


def rows_read_from_jobs(plan: dict[str, Any]) -> int:
    """Rows the plan's scans of jobq_jobs read, whether they kept them or filtered them out."""
    read = 0
    if plan.get("Relation Name") == "jobq_jobs" and "Scan" in plan["Node Type"]:
        read += (plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)) * plan["Actual Loops"]
    return read + sum(rows_read_from_jobs(child) for child in plan.get("Plans", []))


async def test_a_prune_reads_the_jobs_it_deletes_and_not_the_dead_ones_kept_longer(db: asyncpg.Pool) -> None:
    """Dead jobs outlive the others (30 days to 7 by default): deleting the others past
    their retention must not read through the dead ones between the two ages each time."""
    insert = (
        "INSERT INTO jobq_jobs (id, type, queue, status, payload, max_attempts, timeout_s, run_at, finished_at)"
        " SELECT gen_random_uuid(), 'jobq.noop', 'default', $1, '{}', 1, 1, now(),"
        " now() - make_interval(secs => $2) FROM generate_series(1, $3)"
    )
    await db.execute(insert, "dead", 7_200.0, 2_000)  # past the others' retention, not their own
    await db.execute(insert, "succeeded", 10_000.0, 300)  # due
    await db.execute(insert, "succeeded", 10.0, 300)  # not yet
    await db.execute("ANALYZE jobq_jobs")

    async def explained(statement: str, retention_s: float) -> tuple[int, int]:
        """(rows deleted, rows read) by `statement`, rolled back."""
        async with db.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            try:
                # 2,600 rows fit in a few pages: read whole, as PostgreSQL would choose here;
                # at a real table's size it reads the ids through the primary key.
                await conn.execute("SET LOCAL enable_seqscan = off")
                sql = f"EXPLAIN (ANALYZE, FORMAT JSON) {Q[statement]}"
                plan = orjson.loads(await conn.fetchval(sql, retention_s, 10_000))[0]["Plan"]
                return plan["Actual Rows"], rows_read_from_jobs(plan)
            finally:
                await tx.rollback()

    deleted, read = await explained("prune_done_jobs", 3_600.0)
    assert deleted == 300
    assert read <= 2 * deleted  # the index range, then each row by id: none of the 2,000 dead
    assert await explained("prune_dead_jobs", 86_400.0) == (0, 0)
