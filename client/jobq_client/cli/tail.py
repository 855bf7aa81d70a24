"""`jobq tail`: job changes as they happen, read from the API's event stream until Ctrl-C."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from types import FrameType

from ..models import JobEvent, ResetEvent, UnavailableEvent
from .common import Context, Subparsers, add_parser, command
from .exits import Exit
from .output import line
from .views import event_line


def add(sub: Subparsers) -> None:
    """Add `jobq tail`."""
    p = add_parser(
        sub,
        "tail",
        "print job changes as they happen, until Ctrl-C",
        description="Print a line each time a job is created or changes status, attempt or progress, read\n"
        "from GET /v1/events, until Ctrl-C or SIGTERM (exit 0). It shows states, not every\n"
        "transition: a job that ran in under a second may go from queued straight to succeeded.\n"
        "With --json, one JSON object per line: each job event as the API sends it ({event, id,\n"
        "data}), and its reset (changes may have gone unseen) and unavailable events.",
    )
    p.add_argument("--type", help="only jobs of this type")
    p.add_argument("--queue", help="only jobs of this queue")
    p.set_defaults(func=command(_tail))


def _tail(ctx: Context) -> int:
    args, client = ctx.args, ctx.client()
    opened = False

    def on_open() -> None:
        nonlocal opened
        if not opened:  # later opens resume the stream where it was
            ctx.note(f"following job changes at {client.base_url} (Ctrl-C stops)")
            opened = True

    with contextlib.suppress(KeyboardInterrupt), _terminate_as_ctrl_c():
        for event in client.events(on_open=on_open):
            if isinstance(event, JobEvent):
                job = event.data
                if (args.type and job.type != args.type) or (args.queue and job.queue != args.queue):
                    continue
                ctx.print(line(event) if ctx.json else event_line(job, datetime.now(UTC)))
                continue
            if isinstance(event, ResetEvent):
                ctx.note(f"changes may have gone unseen ({event.data.reason}): `jobq ls` shows where jobs stand")
            elif isinstance(event, UnavailableEvent):
                ctx.note(f"the API sees no changes for now ({event.data.message}); waiting for it to recover")
            else:
                continue  # queue and worker counts: `jobq queues`, `jobq workers`
            if ctx.json:
                ctx.print(line(event))
    return Exit.OK


@contextlib.contextmanager
def _terminate_as_ctrl_c() -> Iterator[None]:
    """SIGTERM ends the tail as Ctrl-C does, with exit status 0: it is how a supervisor, or a
    script that started it in the background (where Ctrl-C is ignored), stops it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
