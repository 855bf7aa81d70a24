"""The hub behind `GET /v1/events`: one poller per API process, fanned out to every stream.

While at least one stream is open (and for `LINGER_S` after the last closes, so a
reconnect finds it warm), one asyncio task looks at PostgreSQL every
`JOBQ_EVENTS_INTERVAL_S` with one statement (:mod:`jobq_core.pg.changes`), however many
streams there are. It turns what changed into events, keeps the newest in a ring
buffer for clients that resume with `Last-Event-ID`, and offers each to every stream's
bounded queue: a stream that cannot keep up is emptied and sent `reset`, never waited for.

A look sees states, not transitions: a job that went queued → running → succeeded
between two looks shows as succeeded. Deleted jobs send nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson

from jobq_core.errors import UnavailableError
from jobq_core.pg import changes
from jobq_core.pg.changes import Running

log = logging.getLogger("jobq.api.events")

# Rows are read again for this long after their time: a change committed just after a
# look began (its timestamp is its transaction's start) is still seen by the next look.
LOOKBACK_S = 2.0
# The ring buffer a resuming client is served from: this many events, at most this old.
BUFFER_EVENTS = 10_000
BUFFER_S = 300.0
# Events waiting for one stream; past this it is emptied and the stream sent `reset`.
STREAM_BACKLOG = 1_000
# A look reads at most this many jobs, and sends at most this many `job` events; more
# send one `reset` instead (at most one every OVERFLOW_RESET_S).
LOOK_ROWS = 10_000
LOOK_EVENTS = 1_000
OVERFLOW_RESET_S = 5.0
# Queue counts are taken when a job moved, and also every QUEUE_AGE_S while a queue has
# ready jobs (their age grows), and every QUEUE_RECOUNT_S (deletions send nothing).
QUEUE_AGE_S = 5.0
QUEUE_RECOUNT_S = 30.0
# Jobs whose last sent state is remembered, so a row read again is not sent again.
REMEMBERED_JOBS = 20_000
LINGER_S = 30.0

# The state a `job` event carries, apart from the id: a change to any of it is sent.
_JOB_STATE = (
    "status",
    "attempts",
    "max_attempts",
    "progress",
    "progress_message",
    "run_at",
    "started_at",
    "finished_at",
)


def encode(event_id: str, event: str, data: Any) -> bytes:
    """One event in the text/event-stream format, `data` as one line of compact JSON."""
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (event_id.encode(), event.encode(), orjson.dumps(data))


class Stream:
    """One open stream's queue of events, bounded: when full it is emptied and marked behind."""

    def __init__(self, backlog: int = STREAM_BACKLOG) -> None:
        self._backlog = backlog
        self._pending: list[bytes] = []
        self._ready = asyncio.Event()
        self.behind = False
        self.closed = False

    def offer(self, wire: bytes) -> None:
        """Queue an event; never blocks."""
        if len(self._pending) >= self._backlog:
            self._pending.clear()
            self.behind = True
        else:
            self._pending.append(wire)
        self._ready.set()

    def close(self) -> None:
        """End the stream (the server is stopping)."""
        self.closed = True
        self._ready.set()

    async def wait(self, timeout_s: float) -> None:
        """Until an event is queued, the stream is closed, or `timeout_s` passed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._ready.wait()

    def take(self) -> list[bytes]:
        """The queued events, in order; the queue is then empty and no longer behind."""
        items, self._pending = self._pending, []
        self.behind = False
        self._ready.clear()
        return items


@dataclass
class _Look:
    """What the poller knows between looks (forgotten when it stops)."""

    since: datetime | None = None
    running: dict[str, Running] = field(default_factory=dict)
    sent: OrderedDict[str, tuple[Any, ...]] = field(default_factory=OrderedDict)
    queues: list[dict[str, Any]] | None = None
    counted_at: float = 0.0
    workers: list[tuple[Any, ...]] | None = None
    reset_owed: bool = False
    reset_at: float = float("-inf")


Look = Callable[[datetime | None, Mapping[str, Running], bool], Awaitable[changes.Changes]]
"""One look at the database: (since, the running jobs last seen, count the queues?) → what changed."""


class EventHub:
    """Events for every stream of this process, from one look at PostgreSQL per interval."""

    def __init__(self, look: Look, *, interval_s: float) -> None:
        self._look_at_database = look
        self.interval_s = interval_s
        self._streams: set[Stream] = set()
        self._task: asyncio.Task[None] | None = None
        self._run = ""  # a new one each time the poller starts: ids from before are unknown
        self._seq = 0
        self._floor = 0  # events up to this number are no longer buffered
        self._buffer: deque[tuple[int, float, bytes]] = deque()
        self._look = _Look()
        self.outage: str | None = None  # what PostgreSQL's last look failed with, while it fails

    @classmethod
    def on(cls, pool: asyncpg.Pool, *, interval_s: float, worker_timeout_s: float) -> EventHub:
        """A hub that looks at this pool's database."""

        async def look(since: datetime | None, running: Mapping[str, Running], count_queues: bool) -> changes.Changes:
            return await changes.read(
                pool,
                since=since,
                running=running,
                count_queues=count_queues,
                worker_timeout_s=worker_timeout_s,
                limit=LOOK_ROWS,
            )

        return cls(look, interval_s=interval_s)

    @property
    def last_id(self) -> str:
        """The id of the newest event (or where the stream starts, before any)."""
        return f"{self._run}-{self._seq}"

    @property
    def polling(self) -> bool:
        """Whether the poller runs (it stops `LINGER_S` after the last stream closed)."""
        return self._task is not None and not self._task.done()

    def subscribe(self, last_event_id: str | None) -> tuple[Stream, list[bytes] | None]:
        """Open a stream; also the buffered events after `last_event_id` ([] without one),
        or None when that id cannot be resumed from (the client must reset)."""
        if self._task is None or self._task.done():
            self._start()
        stream = Stream()
        self._streams.add(stream)
        return stream, self._replay(last_event_id)

    def unsubscribe(self, stream: Stream) -> None:
        """Forget a stream that ended."""
        self._streams.discard(stream)

    def unavailable_event(self) -> bytes | None:
        """The `unavailable` event a stream opened during an outage starts with; None when there is none."""
        return None if self.outage is None else encode(self.last_id, "unavailable", {"message": self.outage})

    def reset_event(self, reason: str) -> bytes:
        """A `reset` for one stream, with the newest id: the client refetches and reads on from there."""
        return encode(self.last_id, "reset", {"reason": reason})

    def end_streams(self) -> None:
        """End every open stream (the server is shutting down; clients reconnect elsewhere)."""
        for stream in self._streams:
            stream.close()

    async def close(self) -> None:
        """End the streams and stop the poller."""
        self.end_streams()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _replay(self, last_event_id: str | None) -> list[bytes] | None:
        if last_event_id is None:
            return []
        run, _, number = last_event_id.strip().rpartition("-")
        if run != self._run or not number.isdigit():
            return None
        seq = int(number)
        if not self._floor <= seq <= self._seq:
            return None
        return [wire for n, _, wire in self._buffer if n > seq]

    def _start(self) -> None:
        self._run = secrets.token_hex(4)
        self._floor = self._seq
        self._buffer.clear()
        self._look = _Look()
        self.outage = None
        self._task = asyncio.create_task(self._poll(), name="jobq-events")

    def _publish(self, event: str, data: Any, now: float) -> None:
        self._seq += 1
        wire = encode(self.last_id, event, data)
        self._buffer.append((self._seq, now, wire))
        self._expire(now)
        for stream in self._streams:
            stream.offer(wire)

    def _expire(self, now: float) -> None:
        buffer = self._buffer
        while buffer and (len(buffer) > BUFFER_EVENTS or buffer[0][1] < now - BUFFER_S):
            self._floor = buffer.popleft()[0]

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        idle_since: float | None = None
        outage = failing = False
        while True:
            started = loop.time()
            if self._streams:
                idle_since = None
            elif idle_since is None:
                idle_since = started
            elif started - idle_since >= LINGER_S:
                return
            try:
                found = await self._read(started)
            except UnavailableError as exc:
                if not outage:
                    log.warning("events: %s", exc.message)
                    # The stream cannot see changes now: clients poll (and show the outage) until it can.
                    self.outage = exc.message
                    self._publish("unavailable", {"message": exc.message}, loop.time())
                outage = True
            except Exception:
                if not failing:  # once, not every second
                    log.exception("events: a look at PostgreSQL failed")
                failing = True
            else:
                if outage or failing:
                    log.info("events: looking at PostgreSQL again")
                if outage:
                    self.outage = None
                    self._publish("reset", {"reason": "recovered"}, loop.time())
                outage = failing = False
                self._apply(found, loop.time())
            await asyncio.sleep(max(0.0, started + self.interval_s - loop.time()))

    async def _read(self, now: float) -> changes.Changes:
        look = self._look
        ready = any(q["ready"] for q in look.queues or ())
        since_count = now - look.counted_at
        count = look.queues is None or since_count >= QUEUE_RECOUNT_S or (ready and since_count >= QUEUE_AGE_S)
        return await self._look_at_database(look.since, look.running, count)

    def _apply(self, found: changes.Changes, now: float) -> None:
        """Turn one look into events."""
        look = self._look
        # The first look is the baseline: the running jobs as they are, no events for them
        # (a client fetches what is there). The next reads back LOOKBACK_S before it.
        first = look.since is None
        look.since = found.db_now - timedelta(seconds=LOOKBACK_S)
        jobs = []
        for job in found.jobs:
            job_id = job["id"]
            if job["status"] == "running":
                look.running[job_id] = Running(job["attempts"], job["progress"], job["progress_message"])
            else:
                look.running.pop(job_id, None)
            state = tuple(job[name] for name in _JOB_STATE)
            if look.sent.get(job_id) != state and not first:
                jobs.append(job)
            look.sent[job_id] = state
            look.sent.move_to_end(job_id)
        while len(look.sent) > REMEMBERED_JOBS:
            look.sent.popitem(last=False)
        if len(found.jobs) >= LOOK_ROWS:
            look.running.clear()  # some were not read: the next look reads every running job again
        if len(found.jobs) >= LOOK_ROWS or len(jobs) > LOOK_EVENTS:
            look.reset_owed, jobs = True, []
        for job in jobs:
            self._publish("job", job, now)
        if look.reset_owed and now - look.reset_at >= OVERFLOW_RESET_S:
            self._publish("reset", {"reason": "overflow"}, now)
            look.reset_owed, look.reset_at = False, now
        if found.queues is not None:
            look.counted_at = now
            if found.queues != look.queues:
                self._publish("queues", {"queues": found.queues}, now)
            look.queues = found.queues
        # A heartbeat alone is no news.
        workers = [tuple(v for k, v in w.items() if k != "heartbeat_at") for w in found.workers]
        if workers != look.workers:
            self._publish("workers", {"workers": found.workers}, now)
        look.workers = workers
        self._expire(now)
