"""Firing schedules: each due slot becomes a job, committed with the schedule's next
run time, then dispatched.

Each slot's job has an idempotency key naming the schedule and the slot, so a slot
makes one job however many times it is fired: after a leader change mid-slot, or with
two leaders for a moment.
"""

from __future__ import annotations

import logging

import asyncpg

from jobq_core.dispatch.channel import DispatchChannel
from jobq_core.model import cron
from jobq_core.pg import store
from jobq_core.pg.db import Q, unavailable_as_error
from jobq_core.pg.schedules import job_for_slot, slot_key
from jobq_core.telemetry import tracing

from .submit import dispatch_waiting

log = logging.getLogger("jobq_core.pg.schedules")


async def fire_due(pool: asyncpg.Pool, channel: DispatchChannel) -> int:
    """Submit the jobs of every due slot and move each schedule on; return jobs made.

    One transaction: the jobs and the schedules' next run times commit together, so a
    crash between the two cannot fire a slot twice (and the slot keys would stop it
    anyway).
    """
    async with unavailable_as_error(), pool.acquire() as conn, conn.transaction():
        due = await conn.fetch(Q["due_schedules"])
        plans = []
        for schedule in due:
            try:
                planned = cron.plan(
                    schedule["cron"],
                    schedule["timezone"],
                    schedule["next_run_at"],
                    schedule["db_now"],
                    cron.Missed(schedule["missed"]),
                )
            except (ValueError, KeyError) as exc:  # a row written behind the API's back; the rest still fire
                log.error("schedule %s cannot be planned: %s", schedule["name"], exc)
                continue
            plans.append((schedule, planned))
        new_jobs = [job_for_slot(schedule, slot) for schedule, planned in plans for slot in planned.fire]
        with tracing.publishing(new_jobs) as new_jobs:  # the fired jobs' traces start here
            inserted = await store.insert_jobs(conn, new_jobs) if new_jobs else store.Inserted()
        job_by_key = {job["idempotency_key"]: job["id"] for job in inserted.jobs}
        for schedule, planned in plans:
            last = planned.fire[-1] if planned.fire else None
            last_job = job_by_key.get(slot_key(schedule["id"], last)) if last else None
            await conn.execute(Q["advance_schedule"], schedule["id"], planned.next_run_at, last, last_job)
    made = [job for job, created in zip(inserted.jobs, inserted.created, strict=True) if created]
    if made:
        log.info("schedules fired %d job(s)", len(made))
        await dispatch_waiting(pool, channel, made)
    return len(made)
