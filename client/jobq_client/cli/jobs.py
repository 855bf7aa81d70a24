"""The commands on jobs: `get`, `ls`, `wait`, `cancel`, `retry`, `delete`."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import get_args

from ..errors import BadRequest, Conflict, NotFound, WaitTimeout
from ..models import JobOut, JobStatus
from .common import Context, Subparsers, UsageError, add_parser, command, when
from .exits import Exit, error_lines, exit_for
from .views import JOB_COLUMNS, job_row, page, summary

STATUSES = get_args(JobStatus)
DEFAULT_LIMIT = 50  # the API's page when none is asked for
MAX_PAGE = 500  # the most `GET /v1/jobs` gives at once


def add(sub: Subparsers) -> None:
    """Add the commands on jobs."""
    get = add_parser(sub, "get", "show a job: its fields, attempts and last error")
    get.add_argument("id", metavar="ID")
    get.set_defaults(func=command(_get))

    ls = add_parser(sub, "ls", "list jobs, newest first, filtered as GET /v1/jobs filters them")
    ls.add_argument(
        "--status",
        action="append",
        choices=STATUSES,
        metavar="STATUS",
        help=f"in this status, one of {', '.join(STATUSES)} (repeatable: any of them)",
    )
    ls.add_argument("--type", help="this job type")
    ls.add_argument("--queue", help="this queue")
    ls.add_argument("--tag", help="carrying this tag")
    ls.add_argument("--error", metavar="TEXT", help="whose last error's message holds TEXT (any case)")
    ls.add_argument(
        "--payload",
        action="append",
        metavar="PATH=VALUE",
        help="whose payload has VALUE at PATH, e.g. user.id=123 (repeatable: all of them)",
    )
    ls.add_argument("--created-after", metavar="ISO", type=when, help="created after this time (ISO 8601)")
    ls.add_argument("--created-before", metavar="ISO", type=when, help="created before this time (ISO 8601)")
    ls.add_argument(
        "--limit", metavar="N", type=int, default=DEFAULT_LIMIT, help=f"at most N (default {DEFAULT_LIMIT})"
    )
    ls.add_argument("--all", action="store_true", help="every matching job, however many (no --limit)")
    ls.set_defaults(func=command(_ls))

    wait = add_parser(
        sub,
        "wait",
        "wait until a job ends",
        description="Wait until job ID ends, and print it: exit 0 when it succeeded, 1 when it ended dead\n"
        "or cancelled, 7 when --timeout passed first (it waits as long as it takes without one).",
    )
    wait.add_argument("id", metavar="ID")
    wait.set_defaults(func=command(lambda ctx: wait_for(ctx, ctx.args.id)))

    for name, help, run in [
        ("cancel", "cancel jobs: a waiting one never runs, a running one is asked to stop", _cancel),
        ("retry", "send dead or cancelled jobs back to their queue with one more attempt", _retry),
        ("delete", "delete jobs that are not running", _delete),
    ]:
        each = add_parser(sub, name, help)
        each.add_argument("ids", nargs="+", metavar="ID")
        each.set_defaults(func=command(run))


def _get(ctx: Context) -> int:
    job = ctx.client().get_job(ctx.args.id)
    if ctx.json:
        ctx.emit(job)
    else:
        ctx.lines(page(job))
    return Exit.OK


def _ls(ctx: Context) -> int:
    args = ctx.args
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    jobs = ctx.client().iter_jobs(
        status=args.status,
        type=args.type,
        queue=args.queue,
        tag=args.tag,
        error=args.error,
        payload=args.payload,
        created_after=args.created_after,
        created_before=args.created_before,
        page_size=MAX_PAGE if args.all else min(args.limit + 1, MAX_PAGE),
    )
    listed = list(jobs if args.all else itertools.islice(jobs, args.limit + 1))
    more = not args.all and len(listed) > args.limit
    listed = listed[: args.limit] if more else listed
    if ctx.json:
        ctx.emit(listed)
    else:
        now = datetime.now(UTC)
        ctx.table(JOB_COLUMNS, [job_row(job, now) for job in listed], right=(4,), none="no job matches")
    if more:
        ctx.note(f"more jobs match than these {args.limit}: raise --limit, or pass --all")
    return Exit.OK


def wait_for(ctx: Context, job_id: str) -> int:
    """Wait for the job until `--timeout`, print it, and exit as its end says."""
    try:
        job = ctx.client(deadline_is_the_wait=True).wait(job_id, timeout=ctx.timeout)
    except WaitTimeout as exc:
        if ctx.json and exc.job is not None:
            ctx.emit(exc.job)  # the job as last read, for a script to see where it stands
        raise
    ctx.result(job, summary(job))
    return Exit.OK if job.status == "succeeded" else Exit.JOB_FAILED


def _cancel(ctx: Context) -> int:
    return _each(ctx, ctx.client().cancel_job)


def _retry(ctx: Context) -> int:
    return _each(ctx, ctx.client().retry_job)


def _delete(ctx: Context) -> int:
    client = ctx.client()

    def delete(job_id: str) -> str:
        client.delete_job(job_id)
        return job_id

    return _each(ctx, delete)


def _each(ctx: Context, act: Callable[[str], JobOut | str]) -> int:
    """`act` on each id in turn. An id's own failure (not found, a state that does not allow it) is
    said and the others go on, the first such failure's status the exit's; any other failure ends it."""
    done: list[JobOut | str] = []
    failed: Exit | None = None
    for job_id in ctx.args.ids:
        try:
            result = act(job_id)
        except (NotFound, Conflict, BadRequest) as exc:
            for text in error_lines(exc):
                ctx.note(text)
            failed = failed or exit_for(exc)
            continue
        done.append(result)
        if not ctx.json:
            ctx.print(f"{result} deleted" if isinstance(result, str) else summary(result))
    if ctx.json:
        ctx.emit(done)
    return failed or Exit.OK
