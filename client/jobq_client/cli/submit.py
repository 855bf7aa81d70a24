"""`jobq submit`: one job (and `--wait` for it), or a file of them (`--batch`, with a progress bar)."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from ..errors import JobqError
from ..models import JobOut
from ..operations import DEFAULT_CHUNK
from .common import Context, Subparsers, UsageError, add_parser, command, read_text, when
from .exits import Exit, error_lines, exit_for
from .jobs import wait_for
from .progress import Progress
from .views import summary

# Options that describe the one job TYPE names; a batch file's lines say all that themselves.
ONE_JOB = ("payload", "queue", "priority", "delay", "run_at", "tag", "idempotency_key", "wait")
_INDEX = re.compile(r"^jobs\[(\d+)\]")


def add(sub: Subparsers) -> None:
    """Add `jobq submit`."""
    p = add_parser(
        sub,
        "submit",
        "submit a job, or every job of a JSON Lines file (--batch)",
        description="Submit a job of TYPE and print it; with --wait, wait until it ends (exit 0 when it\n"
        "succeeded, 1 when it ended dead or cancelled, 7 past --timeout). With --batch FILE, submit\n"
        "each line of FILE (a job object as POST /v1/jobs/batch takes it: type, payload, queue, …)\n"
        "in chunks, each all or nothing, with a progress bar on stderr.",
    )
    p.add_argument("type", nargs="?", metavar="TYPE", help="the job type, e.g. jobq.sleep or email.send")
    p.add_argument(
        "--payload", metavar="JSON|@FILE|-", help="the payload: JSON, or @FILE to read it from FILE, or - from stdin"
    )
    p.add_argument("--queue", help="the queue (default: the job type's)")
    p.add_argument("--priority", metavar="N", type=int, help="-100 to 100; higher runs first within its queue")
    p.add_argument("--delay", metavar="S", type=float, help="run it S seconds from now")
    p.add_argument("--run-at", metavar="ISO", type=when, help="run it no earlier than this time (ISO 8601)")
    p.add_argument("--tag", action="append", metavar="TAG", help="a tag to filter by (repeatable)")
    p.add_argument("--idempotency-key", metavar="KEY", help="a repeat with the same key returns the first job")
    p.add_argument("--wait", action="store_true", help="wait until the job ends (see --timeout)")
    p.add_argument("--batch", metavar="FILE", help="submit each line of FILE (JSON Lines; - for stdin) instead")
    p.add_argument(
        "--chunk-size",
        metavar="N",
        type=int,
        default=DEFAULT_CHUNK,
        help=f"jobs per batch request (default {DEFAULT_CHUNK})",
    )
    p.set_defaults(func=command(_submit))


def _submit(ctx: Context) -> int:
    args = ctx.args
    if args.batch is not None:
        return _batch(ctx)
    if not args.type:
        raise UsageError("submit: name the job TYPE, or pass --batch FILE")
    job = ctx.client(deadline_is_the_wait=args.wait).submit(
        args.type,
        _payload(args.payload),
        queue=args.queue,
        priority=args.priority,
        delay_s=args.delay,
        run_at=args.run_at,
        tags=args.tag,
        idempotency_key=args.idempotency_key,
    )
    if not args.wait:
        ctx.result(job, summary(job))
        return Exit.OK
    if not ctx.json:
        ctx.print(summary(job))
    return wait_for(ctx, job.id)


def _payload(source: str | None) -> Any:
    """`--payload`: JSON itself, `@file` or `-` (stdin) holding it."""
    if source is None:
        return None
    from_file = source == "-" or source.startswith("@")
    text = read_text(source.removeprefix("@"), "--payload") if from_file else source
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--payload is not JSON: {exc}") from None


def _batch(ctx: Context) -> int:
    args = ctx.args
    given = [f"--{name.replace('_', '-')}" for name in ONE_JOB if getattr(args, name) not in (None, False)]
    if args.type or given:
        what = ", ".join(([args.type] if args.type else []) + given)
        raise UsageError(f"submit --batch takes every job from its file; leave out {what}")
    if args.chunk_size < 1:
        raise UsageError("--chunk-size must be at least 1")
    jobs, lines = _read_batch(args.batch)
    progress = Progress(ctx.err, "jobs")
    try:
        submitted = ctx.client().submit_batch(jobs, chunk_size=args.chunk_size, on_progress=progress.update)
    except JobqError as exc:
        progress.end()
        return _batch_failed(ctx, exc, lines, len(jobs))
    progress.end()
    if ctx.json:
        ctx.emit(submitted)
    else:
        ctx.print(f"{len(submitted)} jobs submitted from {args.batch}: {_by_status(submitted)}")
    return Exit.OK


def _read_batch(source: str) -> tuple[list[dict[str, Any]], list[int]]:
    """The job objects of a JSON Lines file, and the line each came from (blank lines are skipped)."""
    jobs, lines = [], []
    for number, text in enumerate(read_text(source, "--batch").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            job = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"{source} line {number} is not JSON: {exc}") from None
        if not isinstance(job, dict):
            raise UsageError(f'{source} line {number} is not a job object ({{"type": …}})')
        jobs.append(job)
        lines.append(number)
    if not jobs:
        raise UsageError(f"{source} holds no job")
    return jobs, lines


def _batch_failed(ctx: Context, exc: JobqError, lines: list[int], total: int) -> int:
    """Say what failed, naming the file's lines, and what earlier chunks submitted before it."""

    def with_line(text: str) -> str:
        match = _INDEX.match(text)
        if match and int(match.group(1)) < len(lines):
            return f"line {lines[int(match.group(1))]}: {text}"
        return text

    for text in error_lines(exc):
        ctx.note(with_line(text))
    if exc.submitted:
        done = len(exc.submitted)
        ctx.note(
            f"{done} of {total} jobs (to line {lines[done - 1]}) were submitted before that; submitting the "
            "file again submits them again, unless their lines carry an idempotency_key"
        )
        if ctx.json:
            ctx.emit(list(exc.submitted))
    return exit_for(exc)


def _by_status(jobs: list[JobOut]) -> str:
    counts = Counter(job.status for job in jobs)
    return ", ".join(f"{n} {status}" for status, n in counts.most_common())
