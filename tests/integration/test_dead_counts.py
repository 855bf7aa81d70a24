"""Each queue's dead jobs are kept count of (migration 0008), not counted: the count must
follow every way a job becomes dead or stops being dead, at once and after the leader
folds the deltas, including many transactions at the same time."""

from __future__ import annotations

import asyncio
import random

import asyncpg

from jobq_core.pg.db import Q

INSERT = (
    "INSERT INTO jobq_jobs (id, type, queue, status, payload, max_attempts, timeout_s, run_at, finished_at)"
    " SELECT gen_random_uuid(), 'jobq.noop', $1, $2, '{}', 1, 1, now(), now() FROM generate_series(1, $3)"
)


async def kept(db: asyncpg.Pool) -> dict[str, int]:
    """What the counter says, queues with none left out."""
    rows = await db.fetch("SELECT queue, dead FROM jobq_dead_by_queue() WHERE dead <> 0")
    return {r["queue"]: r["dead"] for r in rows}


async def counted(db: asyncpg.Pool) -> dict[str, int]:
    rows = await db.fetch("SELECT queue, count(*) AS dead FROM jobq_jobs WHERE status = 'dead' GROUP BY queue")
    return {r["queue"]: r["dead"] for r in rows}


async def assert_kept_right(db: asyncpg.Pool, step: str) -> None:
    truth = await counted(db)
    assert await kept(db) == truth, f"before folding, after {step}"
    await db.execute(Q["fold_dead_counts"])
    assert await kept(db) == truth, f"after folding, after {step}"
    assert await db.fetchval("SELECT count(*) FROM jobq_dead_deltas") == 0


async def test_the_dead_count_follows_every_way_in_and_out(db: asyncpg.Pool) -> None:
    await db.execute(INSERT, "default", "queued", 50)
    await db.execute(INSERT, "default", "dead", 7)  # inserted dead (a restore, a seed)
    await db.execute(INSERT, "email", "dead", 3)
    await assert_kept_right(db, "inserts")

    await db.execute(
        "UPDATE jobq_jobs SET status = 'dead' WHERE id IN (SELECT id FROM jobq_jobs WHERE status = 'queued' LIMIT 10)"
    )
    await assert_kept_right(db, "jobs dying")

    await db.execute(
        "UPDATE jobq_jobs SET status = 'queued'"
        " WHERE id IN (SELECT id FROM jobq_jobs WHERE status = 'dead' AND queue = 'default' LIMIT 4)"
    )
    await assert_kept_right(db, "dead jobs retried")

    await db.execute("UPDATE jobq_jobs SET priority = 5, attempts = attempts + 1 WHERE status = 'dead'")
    await db.execute("UPDATE jobq_jobs SET status = 'dead' WHERE status = 'dead' AND queue = 'email'")
    await assert_kept_right(db, "dead jobs changed but still dead")

    await db.execute("UPDATE jobq_jobs SET queue = 'billing' WHERE status = 'dead' AND queue = 'email'")
    await assert_kept_right(db, "dead jobs moved to another queue")

    await db.execute("DELETE FROM jobq_jobs WHERE id IN (SELECT id FROM jobq_jobs WHERE status = 'dead' LIMIT 5)")
    await db.execute("DELETE FROM jobq_jobs WHERE status = 'queued' AND id IN (SELECT id FROM jobq_jobs LIMIT 3)")
    await assert_kept_right(db, "deletes")
    assert await kept(db), "the steps above left some dead jobs"

    await db.execute("TRUNCATE jobq_jobs CASCADE")
    assert await kept(db) == {}


async def test_concurrent_deaths_and_retries_are_all_counted(db: asyncpg.Pool) -> None:
    queues = ["default", "email", "reports"]
    for queue in queues:
        await db.execute(INSERT, queue, "running", 60)
    rng = random.Random(7)

    async def churn(queue: str) -> None:
        """Jobs of one queue die and are retried, one transaction each, while folds run."""
        for _ in range(40):
            status, to = ("running", "dead") if rng.random() < 0.7 else ("dead", "queued")
            await db.execute(
                "UPDATE jobq_jobs SET status = $3 WHERE id = (SELECT id FROM jobq_jobs WHERE queue = $1"
                " AND status = $2 LIMIT 1 FOR UPDATE SKIP LOCKED)",
                queue,
                status,
                to,
            )

    async def fold_meanwhile() -> None:
        for _ in range(20):
            await db.execute(Q["fold_dead_counts"])
            await asyncio.sleep(0.005)

    await asyncio.gather(*(churn(q) for q in queues for _ in range(2)), fold_meanwhile())

    assert sum((await counted(db)).values()) > 0
    await assert_kept_right(db, "concurrent churn")
