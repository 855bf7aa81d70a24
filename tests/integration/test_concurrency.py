"""`JOBQ_CONCURRENCY` bounds the jobs one worker process runs at once, across all its queues."""

from __future__ import annotations

import asyncpg
import httpx

from tests.integration.api_helpers import submit_batch
from tests.integration.conftest import StartWorker
from tests.support.wait import until

QUEUES = ["mail", "reports", "hooks"]


async def most_at_once(db: asyncpg.Pool) -> int:
    """The most jobs whose [started, finished] spans overlapped, from the rows' own timestamps."""
    value = await db.fetchval(
        """
        WITH edges AS (
            SELECT started_at AS at, 1 AS delta FROM jobq_jobs
            UNION ALL SELECT finished_at, -1 FROM jobq_jobs
        )
        SELECT max(running) FROM (
            SELECT sum(delta) OVER (ORDER BY at, delta) AS running FROM edges
        ) AS sweep
        """
    )
    return int(value)


async def test_a_worker_serving_three_queues_runs_at_most_its_concurrency_at_once(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, start_worker: StartWorker
) -> None:
    await start_worker(JOBQ_CONCURRENCY="3", JOBQ_QUEUES=",".join(QUEUES))
    jobs = [{"type": "jobq.sleep", "queue": queue, "payload": {"seconds": 0.4}} for queue in QUEUES for _ in range(4)]
    await submit_batch(api, auth, jobs)

    async def all_succeeded() -> bool:
        return await db.fetchval("SELECT count(*) FROM jobq_jobs WHERE status = 'succeeded'") == len(jobs)

    await until(all_succeeded, timeout_s=30, what="the 12 jobs to succeed")
    # Per queue (the old meaning) this worker would have run up to 9 at once.
    assert await most_at_once(db) == 3
