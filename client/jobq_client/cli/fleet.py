"""The commands on what runs the jobs: `queues`, `pause`, `resume`, `workers`, `schedules`."""

from __future__ import annotations

from datetime import UTC, datetime

from .common import Context, Subparsers, add_parser, command
from .exits import Exit
from .views import QUEUE_COLUMNS, SCHEDULE_COLUMNS, WORKER_COLUMNS, queue_row, queue_summary, schedule_row, worker_row


def add(sub: Subparsers) -> None:
    """Add the commands on queues, workers and schedules."""
    add_parser(sub, "queues", "list queues: ready, scheduled, running and dead jobs, paused or not").set_defaults(
        func=command(_queues)
    )
    for name, help, run in [
        ("pause", "pause a queue (admin key): its jobs wait until it is resumed", _pause),
        ("resume", "resume a paused queue (admin key)", _resume),
    ]:
        p = add_parser(sub, name, help)
        p.add_argument("queue", metavar="QUEUE")
        p.set_defaults(func=command(run))
    add_parser(sub, "workers", "list the workers seen in the last hour, alive or not").set_defaults(
        func=command(_workers)
    )
    add_parser(sub, "schedules", "list the recurring schedules and when each runs next").set_defaults(
        func=command(_schedules)
    )


def _queues(ctx: Context) -> int:
    queues = ctx.client().list_queues()
    if ctx.json:
        ctx.emit(queues)
    else:
        ctx.table(QUEUE_COLUMNS, [queue_row(q) for q in queues], right=(1, 2, 3, 4, 5), none="no queue yet")
    return Exit.OK


def _pause(ctx: Context) -> int:
    queue = ctx.client().pause_queue(ctx.args.queue)
    ctx.result(queue, queue_summary(queue))
    return Exit.OK


def _resume(ctx: Context) -> int:
    queue = ctx.client().resume_queue(ctx.args.queue)
    ctx.result(queue, queue_summary(queue))
    return Exit.OK


def _workers(ctx: Context) -> int:
    workers = ctx.client().list_workers()
    if ctx.json:
        ctx.emit(workers)
    else:
        now = datetime.now(UTC)
        ctx.table(WORKER_COLUMNS, [worker_row(w, now) for w in workers], right=(2, 4, 5), none="no worker seen")
    return Exit.OK


def _schedules(ctx: Context) -> int:
    schedules = ctx.client().list_schedules()
    if ctx.json:
        ctx.emit(schedules)
    else:
        now = datetime.now(UTC)
        ctx.table(SCHEDULE_COLUMNS, [schedule_row(s, now) for s in schedules], none="no schedule")
    return Exit.OK
