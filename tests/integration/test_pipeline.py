"""A job's whole life through real worker processes: run, retry, die, cancel, progress."""

from __future__ import annotations

import time
from datetime import datetime

import asyncpg
import httpx
import orjson
import redis.asyncio as aioredis

from jobq_core import names
from tests.integration.conftest import StartWorker, wait_for_status
from tests.support.wait import until


async def submit(api: httpx.AsyncClient, auth: dict[str, str], **job: object) -> dict[str, object]:
    response = await api.post("/v1/jobs", json=job, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_job_runs_end_to_end_and_its_result_is_visible(
    api: httpx.AsyncClient, auth: dict[str, str], start_worker: StartWorker
) -> None:
    await start_worker()
    job = await submit(api, auth, type="jobq.sleep", payload={"seconds": 0.05})
    assert job["status"] == "queued"

    done = await wait_for_status(api, auth, job["id"], {"succeeded", "dead"})

    assert done["status"] == "succeeded"
    assert done["result"] == {"slept_s": 0.05}
    assert done["attempts"] == 1
    assert done["progress"] == 1.0
    assert done["started_at"] <= done["finished_at"]
    assert [a["outcome"] for a in done["history"]] == ["succeeded"]


async def test_a_failing_job_retries_with_backoff_then_is_dead_with_its_error(
    api: httpx.AsyncClient, auth: dict[str, str], start_worker: StartWorker
) -> None:
    await start_worker(JOBQ_RETRY_BASE_S="0.4")
    job = await submit(api, auth, type="jobq.fail", payload={"message": "boom"}, max_attempts=3)

    dead = await wait_for_status(api, auth, job["id"], {"dead", "succeeded"})

    assert dead["status"] == "dead"
    assert dead["attempts"] == 3
    assert dead["error"]["type"] == "jobq_worker.handlers.demo.DeliberateFailure"
    assert dead["error"]["message"] == "boom"
    assert "Traceback" in dead["error"]["traceback"]
    history = dead["history"]
    assert [a["outcome"] for a in history] == ["failed", "failed", "failed"]
    # Back-off: attempt 2 waited at least half of 0.4 s, attempt 3 at least half of 0.8 s.
    ends = [datetime.fromisoformat(a["finished_at"]) for a in history]
    starts = [datetime.fromisoformat(a["started_at"]) for a in history]
    assert (starts[1] - ends[0]).total_seconds() >= 0.2
    assert (starts[2] - ends[1]).total_seconds() >= 0.4


async def test_a_job_that_fails_once_succeeds_on_its_second_attempt(
    api: httpx.AsyncClient, auth: dict[str, str], start_worker: StartWorker
) -> None:
    await start_worker()
    job = await submit(api, auth, type="jobq.fail", payload={"times": 1})

    done = await wait_for_status(api, auth, job["id"], {"succeeded", "dead"})

    assert done["status"] == "succeeded"
    assert done["attempts"] == 2
    assert done["result"] == {"succeeded_on_attempt": 2}
    assert done["error"] is None


async def test_a_permanent_failure_is_not_retried(
    api: httpx.AsyncClient, auth: dict[str, str], start_worker: StartWorker
) -> None:
    await start_worker()
    job = await submit(api, auth, type="jobq.fail", payload={"permanent": True}, max_attempts=5)

    dead = await wait_for_status(api, auth, job["id"], {"dead", "succeeded"})

    assert dead["attempts"] == 1
    assert dead["error"]["type"] == "jobq_worker.errors.PermanentFailure"


async def test_a_job_past_its_timeout_fails_with_a_timeout_error(
    api: httpx.AsyncClient, auth: dict[str, str], start_worker: StartWorker
) -> None:
    await start_worker()
    job = await submit(api, auth, type="jobq.sleep", payload={"seconds": 5}, timeout_s=0.2, max_attempts=1)

    dead = await wait_for_status(api, auth, job["id"], {"dead", "succeeded"})

    assert dead["error"]["type"] == "TimeoutError"
    assert "timeout of 0.2s" in dead["error"]["message"]


async def test_a_cancelled_job_never_runs(
    api: httpx.AsyncClient, auth: dict[str, str], start_worker: StartWorker, db: asyncpg.Pool
) -> None:
    await start_worker()
    job = await submit(api, auth, type="jobq.noop", delay_s=0.5)
    assert job["status"] == "scheduled"

    cancelled = await api.post(f"/v1/jobs/{job['id']}/cancel", headers=auth)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    # A job submitted after it, due after it, runs: so the worker has had its chance.
    later = await submit(api, auth, type="jobq.noop", delay_s=1.0)
    await wait_for_status(api, auth, later["id"], {"succeeded"})

    row = await db.fetchrow("SELECT status, attempts, started_at FROM jobq_jobs WHERE id = $1::uuid", job["id"])
    assert (row["status"], row["attempts"], row["started_at"]) == ("cancelled", 0, None)


async def test_a_retried_dead_job_runs_again(
    api: httpx.AsyncClient, auth: dict[str, str], start_worker: StartWorker
) -> None:
    await start_worker()
    job = await submit(api, auth, type="jobq.fail", payload={"times": 1}, max_attempts=1)
    dead = await wait_for_status(api, auth, job["id"], {"dead", "succeeded"})
    assert dead["status"] == "dead"

    retried = await api.post(f"/v1/jobs/{job['id']}/retry", headers=auth)
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "queued"

    done = await wait_for_status(api, auth, job["id"], {"succeeded", "dead"})
    assert (done["status"], done["attempts"], done["max_attempts"]) == ("succeeded", 2, 2)


async def test_progress_is_visible_while_a_job_runs(
    api: httpx.AsyncClient, auth: dict[str, str], start_worker: StartWorker
) -> None:
    await start_worker()
    job = await submit(api, auth, type="jobq.sleep", payload={"seconds": 1.5, "steps": 3})

    async def mid_progress() -> dict[str, object] | None:
        current = (await api.get(f"/v1/jobs/{job['id']}", headers=auth)).json()
        return current if current["status"] == "running" and current["progress"] else None

    running = await until(mid_progress, what="progress on the running job")
    assert 0 < running["progress"] < 1
    assert running["progress_message"].startswith("slept ")
    assert running["worker_id"]
    await wait_for_status(api, auth, job["id"], {"succeeded"})


async def test_duplicate_deliveries_run_a_job_once(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    start_worker: StartWorker,
    db: asyncpg.Pool,
    redis_client: aioredis.Redis,
) -> None:
    """A second message for an attempt already claimed finds nothing to claim."""
    await start_worker()
    await start_worker()
    job = await submit(api, auth, type="jobq.sleep", payload={"seconds": 0.3})
    # Send the same attempt again under another ARQ id, as a duplicated delivery would.
    body = orjson.dumps({"t": None, "f": names.JOB_FUNCTION, "a": [job["id"], 1, {}], "k": {}, "et": 0})
    now = int(time.time() * 1000)
    await redis_client.set(names.ARQ_JOB_PREFIX + "dup", body)
    await redis_client.zadd(names.redis_queue_key("default"), {"dup": now})

    await wait_for_status(api, auth, job["id"], {"succeeded"})

    async def duplicate_consumed() -> bool:
        return not await redis_client.exists(names.ARQ_JOB_PREFIX + "dup")

    await until(duplicate_consumed, what="the duplicate delivery to be consumed")
    attempts = await db.fetchval("SELECT count(*) FROM jobq_job_attempts WHERE job_id = $1::uuid", job["id"])
    assert attempts == 1
