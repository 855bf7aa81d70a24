"""The event stream without I/O: its lines read into typed events (`EventFeed`, for
`events()`), and waiting for a job (`JobWatch`, for `wait()`).

`events()` reads `GET /v1/events` and yields each event as its model; when the API ends
a stream (every few minutes), breaks it, or it falls silent past the keep-alives, it is
opened again with `Last-Event-ID`, so what the API still holds is replayed (else its
`reset` says events were missed).

`wait()` opens `GET /v1/events`, reads the job once the stream is open (so no change
falls between the two), and reads it again when an event says it reached a final state,
on a `reset` (events were missed) and on each keep-alive (a deleted job sends nothing).
Near its deadline it reopens the stream with `Last-Event-ID`, so no read outlives it.
When the stream cannot be had (an API without it, a proxy that buffers it, an
`unavailable` event) it polls `GET /v1/jobs/{id}` instead.
"""

from __future__ import annotations

import enum
import json
import time
from dataclasses import dataclass, field

import httpx
import pydantic

from .calls import Attempts, Call, Read, error_from, finish, log
from .config import Config
from .errors import Forbidden, Unauthorized, UnexpectedResponse, WaitTimeout
from .models import (
    JobEvent,
    JobEventData,
    JobOut,
    QueuesEvent,
    ResetEvent,
    ServerEvent,
    UnavailableEvent,
    WorkersEvent,
)
from .names import EVENTS_PATH, LAST_EVENT_ID_HEADER

FINAL_STATUSES = frozenset({"succeeded", "dead", "cancelled"})
# Longer than the API's keep-alive interval (15 s): a stream silent this long is broken.
IDLE_S = 25.0
DEFAULT_POLL_S = 1.0
# httpx fixes a stream's read timeout when it opens, and each read may take that long: near
# the deadline a stream is reopened (with Last-Event-ID) once this much of it has gone by.
REOPEN_S = 0.25
# A stream that ended sooner than this after it opened is opened again only after RESUME_S:
# an API (or proxy) that ends each stream at once is not asked again and again in a loop.
SHORT_STREAM_S = 1.0
RESUME_S = 1.0

Event = JobEvent | QueuesEvent | WorkersEvent | ResetEvent | UnavailableEvent
"""One event of `GET /v1/events`, as `events()` yields it (`jobq_client.models`)."""
_EVENT: pydantic.TypeAdapter[Event] = pydantic.TypeAdapter(ServerEvent)


class Step(enum.Enum):
    """What to do after a line of the stream."""

    READ = "read on"
    FETCH = "read the job, then read on"
    POLL = "leave the stream and poll"


COMMENT = object()
"""What `Parser.feed` returns for a comment line (`: keep-alive`)."""


@dataclass(frozen=True)
class Message:
    """One server-sent event."""

    event: str
    data: str
    id: str | None


@dataclass
class Parser:
    """`text/event-stream` lines to messages, as the HTML standard reads them."""

    last_id: str | None = None
    _event: str = ""
    _data: list[str] = field(default_factory=list)

    def feed(self, line: str) -> Message | object | None:
        """A message when `line` ends one, COMMENT for a comment, else None."""
        if line == "":
            message = None
            if self._data:
                message = Message(self._event or "message", "\n".join(self._data), self.last_id)
            self._event, self._data = "", []
            return message
        if line.startswith(":"):
            return COMMENT
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\x00" not in value:
            self.last_id = value
        return None


class EventFeed:
    """The events of `GET /v1/events`, read line by line across the streams that carry them."""

    def __init__(self, last_event_id: str | None = None) -> None:
        self.last_event_id = last_event_id
        """The id of the last event read, which the next stream resumes after."""
        self._parser = Parser(last_event_id)

    def next_stream(self) -> Call:
        """The request that opens the next stream: after the last event read (an event the previous
        stream cut short is dropped; the API sends it again)."""
        self._parser = Parser(self.last_event_id)
        headers = {LAST_EVENT_ID_HEADER: self.last_event_id} if self.last_event_id else {}
        return Call("GET", EVENTS_PATH, Read(None), headers=headers, safe=True)

    def line(self, line: str) -> Event | None:
        """The event `line` ends, if it ends one this client knows (others, from a newer API, are skipped)."""
        message = self._parser.feed(line)
        if not isinstance(message, Message):
            return None
        if message.id is not None:
            self.last_event_id = message.id
        try:
            return _EVENT.validate_python({"event": message.event, "id": message.id, "data": json.loads(message.data)})
        except (ValueError, pydantic.ValidationError):
            log.debug("skipped a %r event this client cannot read", message.event)
            return None


def stream_timeout(config: Config) -> httpx.Timeout:
    """A stream's timeouts: the client's, but reads may wait for the next keep-alive (and IDLE_S at most)."""
    return httpx.Timeout(config.timeout_s, read=IDLE_S)


def resume_in(lasted_s: float) -> float:
    """Seconds to wait before opening the next stream, after one that lasted `lasted_s`."""
    return RESUME_S if lasted_s < SHORT_STREAM_S else 0.0


def retry_open_in(attempts: Attempts, outcome: httpx.Response | httpx.TransportError) -> float:
    """After an attempt to open a stream got none: seconds to wait before the next, as for any read
    (a 503, a connection that failed); else the error, raised as a `JobqError`."""
    delay = attempts.retry_in(outcome)
    if delay is not None:
        return delay
    config = attempts.config
    if isinstance(outcome, httpx.Response) and outcome.is_success:
        kind = outcome.headers.get("Content-Type", "no content type")
        raise UnexpectedResponse(
            config.api_key.redact(
                f"{attempts.call} answered {outcome.status_code} with {kind}, not an event stream: "
                f"is {config.base_url} the API's URL?"
            )
        )
    finish(attempts.call, outcome, config)  # raises: a failure, or a redirect
    raise UnexpectedResponse(f"{attempts.call} answered {outcome}")


class StreamUnusable(Exception):
    """The event stream cannot tell this wait what it needs: poll instead."""


def is_stream(response: httpx.Response) -> bool:
    """The answer to `GET /v1/events` is the stream (not an error, nor a proxy's page)."""
    return response.status_code == 200 and "text/event-stream" in response.headers.get("Content-Type", "")


def stream_refused(response: httpx.Response, config: Config) -> Exception:
    """Why a stream request got no stream: the key's own errors are the caller's; anything else means poll."""
    error = error_from(Call("GET", EVENTS_PATH, Read(None)), response, config.api_key.redact)
    return error if isinstance(error, Unauthorized | Forbidden) else StreamUnusable(str(error))


@dataclass
class Deadline:
    """When a wait gives up: `timeout_s` from its start, or never."""

    timeout_s: float | None
    started: float = field(default_factory=time.monotonic)

    def left(self) -> float | None:
        """Seconds left (at most 0 once passed), or None without a timeout."""
        return None if self.timeout_s is None else self.timeout_s - (time.monotonic() - self.started)


class JobWatch:
    """One wait for one job: what it has seen, and what it does next."""

    def __init__(self, job_id: str, timeout_s: float | None, poll_s: float = DEFAULT_POLL_S) -> None:
        if timeout_s is not None and timeout_s < 0:
            raise ValueError("timeout must not be negative")
        if poll_s <= 0:
            raise ValueError("poll_interval must be positive")
        self.job_id, self.poll_s = job_id, poll_s
        self.deadline = Deadline(timeout_s)
        self.job: JobOut | None = None
        self._parser = Parser()
        self._last_id: str | None = None  # of the last whole event: one cut short by a reopen is sent again
        self._read_timeout = IDLE_S
        self._bounded_by_deadline = False

    # The stream.

    def open(self) -> tuple[dict[str, str], float]:
        """Headers and the read timeout for the next stream request.

        Once the deadline has passed there is no stream to open: one last poll reads the job,
        for the WaitTimeout to carry it (`wait(job_id, timeout=0)` reads it once).
        """
        left = self.deadline.left()
        if left is not None and left <= 0:
            raise StreamUnusable("the deadline has passed")
        self._bounded_by_deadline = left is not None and left <= IDLE_S
        self._read_timeout = min(IDLE_S, left) if left is not None else IDLE_S
        last_id = self._last_id
        self._parser = Parser(last_id)
        return ({LAST_EVENT_ID_HEADER: last_id} if last_id else {}), self._read_timeout

    def opened(self) -> Step:
        """The stream answered 200: read the job, unless the stream resumes with Last-Event-ID (it
        replays what was missed); one opened without, the first or a reopen before any whole
        event, replays nothing."""
        return Step.FETCH if self._last_id is None else Step.READ

    def line(self, line: str) -> Step:
        """What one line of the stream calls for."""
        item = self._parser.feed(line)
        if item is COMMENT:
            return Step.FETCH
        if not isinstance(item, Message):
            return Step.READ
        self._last_id = item.id
        if item.event == "reset":
            return Step.FETCH
        if item.event == "unavailable":
            return Step.POLL
        if item.event == "job":
            try:
                data = JobEventData.model_validate_json(item.data)
            except pydantic.ValidationError:
                return Step.READ
            if data.id == self.job_id and data.status in FINAL_STATUSES:
                return Step.FETCH
        return Step.READ

    def must_reopen(self) -> bool:
        """After a line: True when the deadline is nearer than a read's timeout (reopen, so that no read
        outlives it by more than REOPEN_S); WaitTimeout once it passed (a busy stream never times out)."""
        left = self.deadline.left()
        if left is None:
            return False
        if left <= 0:
            raise self.timed_out()
        return left < self._read_timeout - REOPEN_S

    def read_timed_out(self) -> Exception:
        """A read of the stream timed out: the deadline (WaitTimeout), or a stream gone silent."""
        return self.timed_out() if self._bounded_by_deadline else StreamUnusable("the stream went silent")

    # The job.

    def seen(self, job: JobOut) -> bool:
        """Record the job as read; True once it is final."""
        self.job = job
        return job.status in FINAL_STATUSES

    def next_poll(self, job: JobOut) -> float | None:
        """After a poll read `job`: None when it is final, else seconds to sleep; WaitTimeout past the deadline."""
        if self.seen(job):
            return None
        left = self.deadline.left()
        if left is not None and left <= 0:
            raise self.timed_out()
        return self.poll_s if left is None else min(self.poll_s, left)

    def timed_out(self) -> WaitTimeout:
        """The error for a deadline passed, with the job as last read."""
        status = f"still {self.job.status}" if self.job is not None else "not read"
        return WaitTimeout(f"job {self.job_id} is {status} after {self.deadline.timeout_s:g} s", job=self.job)
