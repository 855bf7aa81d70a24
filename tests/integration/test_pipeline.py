"""A job's whole life through real worker processes: run, retry, die, cancel, progress."""

from __future__ import annotations

import time
from datetime import datetime

import asyncpg
import httpx
import orjson
import redis.asyncio as aioredis

from jobq_core import names
from tests.integration.api_helpers import submit
from tests.integration.conftest import StartWorker, wait_for_status
from tests.support.handlers import MODULE as TEST_HANDLERS
from tests.support.handlers import side_effects_per_job
from tests.support.wait import until


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


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
    """Each attempt is stopped at its timeout (not when the handler would have returned)
    and is retried like any failure."""
    await start_worker()
    job = await submit(api, auth, type="jobq.sleep", payload={"seconds": 10}, timeout_s=0.5, max_attempts=2)

    dead = await wait_for_status(api, auth, job["id"], {"dead", "succeeded"})

    assert (dead["status"], dead["attempts"]) == ("dead", 2)
    assert dead["error"]["type"] == "TimeoutError"
    assert "timeout of 0.5s" in dead["error"]["message"]
    history = dead["history"]
    assert [(a["outcome"], a["error"]["type"]) for a in history] == [("failed", "TimeoutError")] * 2
    for attempt in history:
        ran_s = (at(attempt["finished_at"]) - at(attempt["started_at"])).total_seconds()
        assert 0.5 <= ran_s < 1.5, f"attempt {attempt['attempt']} ran {ran_s:.3f}s against a 0.5s timeout"


async def test_retry_later_chooses_the_delay_capped_at_the_retry_max(
    api: httpx.AsyncClient, auth: dict[str, str], start_worker: StartWorker
) -> None:
    """`RetryLater(msg, delay_s)` sets when the next attempt is due, up to JOBQ_RETRY_MAX_S,
    and the retry starts within a second of that time."""
    await start_worker(JOBQ_HANDLER_MODULES=TEST_HANDLERS, JOBQ_RETRY_MAX_S="2")
    asked = await submit(api, auth, type="test.retry_later", payload={"delay_s": 1})
    capped = await submit(api, auth, type="test.retry_later", payload={"delay_s": 3600})

    for job, delay_s in ((asked, 1.0), (capped, 2.0)):
        done = await wait_for_status(api, auth, job["id"], {"succeeded", "dead"})
        assert (done["status"], done["attempts"]) == ("succeeded", 2)
        first, second = done["history"]
        assert first["error"]["type"] == "jobq_worker.errors.RetryLater"
        waited_s = (at(done["run_at"]) - at(first["finished_at"])).total_seconds()
        assert abs(waited_s - delay_s) < 0.05, f"due {waited_s:.3f}s after the failure, not {delay_s}s"
        late_s = (at(second["started_at"]) - at(done["run_at"])).total_seconds()
        assert 0 <= late_s < 1, f"the retry started {late_s:.3f}s after its time"


async def test_a_backed_off_retry_starts_within_a_second_of_its_time(
    api: httpx.AsyncClient, auth: dict[str, str], start_worker: StartWorker
) -> None:
    await start_worker(JOBQ_RETRY_BASE_S="2")
    job = await submit(api, auth, type="jobq.fail", payload={"times": 1}, max_attempts=2)

    done = await wait_for_status(api, auth, job["id"], {"succeeded", "dead"})

    assert (done["status"], done["attempts"]) == ("succeeded", 2)
    first, second = done["history"]
    backoff_s = (at(done["run_at"]) - at(first["finished_at"])).total_seconds()
    assert 1 <= backoff_s <= 2, f"a back-off of {backoff_s:.3f}s for a base of 2s"
    late_s = (at(second["started_at"]) - at(done["run_at"])).total_seconds()
    assert 0 <= late_s < 1, f"the retry started {late_s:.3f}s after its time"


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
    side_effects: asyncpg.Pool,
    redis_client: aioredis.Redis,
) -> None:
    """A second message for an attempt already claimed, or already finished, finds nothing
    to claim: the handler's side effect happens once."""
    await start_worker(JOBQ_HANDLER_MODULES=TEST_HANDLERS)
    await start_worker(JOBQ_HANDLER_MODULES=TEST_HANDLERS)
    job = await submit(api, auth, type="test.record", payload={"sleep_s": 1})
    await wait_for_status(api, auth, job["id"], {"running"})

    # The same attempt again under another ARQ id while it runs, as a duplicated delivery would.
    await deliver_again(redis_client, job["id"], "dup-while-running")
    await wait_for_status(api, auth, job["id"], {"succeeded"})
    # And once more after it finished, as a stale delivery would.
    await deliver_again(redis_client, job["id"], "dup-after-success")

    for arq_id in ("dup-while-running", "dup-after-success"):

        async def consumed(arq_id: str = arq_id) -> bool:
            return not await redis_client.exists(names.ARQ_JOB_PREFIX + arq_id)

        await until(consumed, what=f"the duplicate delivery {arq_id} to be taken")
    assert await side_effects_per_job(side_effects) == {job["id"]: 1}
    assert await side_effects.fetchval("SELECT attempts FROM jobq_jobs WHERE id = $1::uuid", job["id"]) == 1


async def test_a_stale_delivery_does_not_run_a_retry_early(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    start_worker: StartWorker,
    db: asyncpg.Pool,
    redis_client: aioredis.Redis,
) -> None:
    """A message for attempt 1 arriving while the job waits for its retry (attempt 2, an
    hour away) claims nothing: the claim checks the attempt, not only the status."""
    await start_worker(JOBQ_HANDLER_MODULES=TEST_HANDLERS)
    job = await submit(api, auth, type="test.retry_later", payload={"delay_s": 3600})
    waiting = await wait_for_status(api, auth, job["id"], {"scheduled", "succeeded", "dead"})
    assert (waiting["status"], waiting["attempts"]) == ("scheduled", 1)

    await deliver_again(redis_client, job["id"], "stale-attempt-1")

    async def consumed() -> bool:
        return not await redis_client.exists(names.ARQ_JOB_PREFIX + "stale-attempt-1")

    await until(consumed, what="the stale delivery to be taken")
    row = await db.fetchrow("SELECT status, attempts FROM jobq_jobs WHERE id = $1::uuid", job["id"])
    assert (row["status"], row["attempts"]) == ("scheduled", 1), "the stale delivery ran the retry early"


async def deliver_again(redis_client: aioredis.Redis, job_id: str, arq_id: str) -> None:
    """Put a message for attempt 1 of `job_id` on the default queue under `arq_id`."""
    body = orjson.dumps({"t": None, "f": names.JOB_FUNCTION, "a": [job_id, 1, {}], "k": {}, "et": 0})
    await redis_client.set(names.ARQ_JOB_PREFIX + arq_id, body)
    await redis_client.zadd(names.redis_queue_key("default"), {arq_id: int(time.time() * 1000)})
