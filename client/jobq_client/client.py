"""`Client`: the jobq API with blocking calls (for scripts and the `jobq` command)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar, Unpack

import httpx

from . import operations as ops
from .calls import Attempts, Call, finish, log
from .config import Config
from .errors import JobqError
from .events import (
    DEFAULT_POLL_S,
    Event,
    EventFeed,
    JobWatch,
    Step,
    StreamUnusable,
    is_stream,
    resume_in,
    retry_open_in,
    stream_refused,
    stream_timeout,
)
from .models import JobOut
from .names import EVENTS_PATH
from .operations import Id, Op
from .retry import RetryPolicy

P = ParamSpec("P")
R = TypeVar("R")


def _method(op: Callable[P, Op[R]]) -> Callable[Concatenate[Client, P], R]:
    """A `Client` method that runs the operation `op` (its name, docstring and signature)."""

    @functools.wraps(op)
    def method(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._run(op(*args, **kwargs))

    method.__qualname__ = f"Client.{op.__name__}"
    method.__signature__ = ops.method_signature(op)  # type: ignore[attr-defined]
    return method


class Client:
    """The jobq API over blocking HTTP.

    `base_url` defaults to `JOBQ_API_URL` (else http://127.0.0.1:8000), `api_key` to
    `JOBQ_API_KEY`; the key is sent as a bearer token and shown nowhere else. Each request
    may take `timeout` seconds (connect, and each read and write); 503s, 429s and lost
    connections are retried as `retry` says (`jobq_client.RetryPolicy`). `transport` is an
    httpx transport, for proxies or tests. Errors are `jobq_client.JobqError`s. Close the
    client, or use it as a context manager.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._config = Config.from_arguments(base_url, api_key, timeout, retry)
        self._http = httpx.Client(
            base_url=self._config.base_url,
            headers=self._config.headers(),
            timeout=self._config.timeout_s,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"Client(base_url={self._config.base_url!r})"

    @property
    def base_url(self) -> str:
        """The API's URL."""
        return self._config.base_url

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    # Running the shared operations.

    def _run(self, op: Op[R]) -> R:
        try:
            call = next(op)
            while True:
                try:
                    result = self._send(call)
                except JobqError as exc:
                    call = op.throw(exc)
                else:
                    call = op.send(result)
        except StopIteration as done:
            value: R = done.value
            return value

    def _send(self, call: Call) -> Any:
        attempts = Attempts(call, self._config)
        while True:
            outcome: httpx.Response | httpx.TransportError
            try:
                outcome = self._http.request(
                    call.method, call.path, params=call.params, json=call.json, headers=call.headers
                )
            except httpx.TransportError as exc:
                outcome = exc
            delay = attempts.retry_in(outcome)
            if delay is None:
                return finish(call, outcome, self._config)
            time.sleep(delay)

    submit = _method(ops.submit)
    submit_batch = _method(ops.submit_batch)
    get_job = _method(ops.get_job)
    list_jobs = _method(ops.list_jobs)
    count_jobs = _method(ops.count_jobs)
    cancel_job = _method(ops.cancel_job)
    retry_job = _method(ops.retry_job)
    run_job_now = _method(ops.run_job_now)
    delete_job = _method(ops.delete_job)
    list_queues = _method(ops.list_queues)
    pause_queue = _method(ops.pause_queue)
    resume_queue = _method(ops.resume_queue)
    list_workers = _method(ops.list_workers)
    list_job_types = _method(ops.list_job_types)
    me = _method(ops.me)
    list_schedules = _method(ops.list_schedules)
    get_schedule = _method(ops.get_schedule)
    create_schedule = _method(ops.create_schedule)
    update_schedule = _method(ops.update_schedule)
    pause_schedule = _method(ops.pause_schedule)
    resume_schedule = _method(ops.resume_schedule)
    run_schedule = _method(ops.run_schedule)
    schedule_runs = _method(ops.schedule_runs)
    delete_schedule = _method(ops.delete_schedule)

    # What takes more than a sequence of calls.

    @ops.takes_filters
    def iter_jobs(self, *, page_size: int | None = None, **filters: Unpack[ops.JobFilters]) -> Iterator[JobOut]:
        """Every job `list_jobs` lists with these filters, newest first, fetched `page_size` at a time."""
        cursor = None
        while True:
            page = self.list_jobs(limit=page_size, cursor=cursor, **filters)
            yield from page.jobs
            if not (cursor := page.next_cursor):
                return

    def events(self, *, last_event_id: str | None = None, on_open: Callable[[], None] | None = None) -> Iterator[Event]:
        """The API's changes as they happen (`GET /v1/events`), for as long as the caller reads.

        Each is a model of `jobq_client.models`: `JobEvent` (a job was created or changed
        state, attempt or progress), `QueuesEvent`, `WorkersEvent`, `ResetEvent` (changes
        were missed: what you know may be stale, read it again) and `UnavailableEvent` (the
        API sees no changes until a `ResetEvent` says it does again). When the API ends a
        stream, breaks it, or it falls silent, the next is opened after the last event read
        and the API replays what it still holds. `on_open()` is called each time a stream
        has opened: no change after that goes unseen. Opening one is retried as a read is;
        past that it raises the `JobqError` (`Unauthorized`, `NotFound` from an API without
        the stream, …).
        """
        feed = EventFeed(last_event_id)
        while True:
            response = self._open_stream(feed.next_stream())
            opened = time.monotonic()
            try:
                if on_open is not None:
                    on_open()
                for line in response.iter_lines():
                    if (event := feed.line(line)) is not None:
                        yield event
            except httpx.TransportError as exc:
                log.info("the event stream broke (%s); resuming it", type(exc).__name__)
            finally:
                response.close()
            time.sleep(resume_in(time.monotonic() - opened))

    def _open_stream(self, call: Call) -> httpx.Response:
        """The open stream `call` asks for, its body still to read."""
        attempts = Attempts(call, self._config)
        while True:
            outcome: httpx.Response | httpx.TransportError
            request = self._http.build_request(
                call.method, call.path, headers=call.headers, timeout=stream_timeout(self._config)
            )
            try:
                outcome = self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                outcome = exc
            else:
                if is_stream(outcome):
                    return outcome
                outcome.read()
                outcome.close()
            time.sleep(retry_open_in(attempts, outcome))

    def wait(self, job_id: Id, *, timeout: float | None = None, poll_interval: float = DEFAULT_POLL_S) -> JobOut:
        """The job once it is final (`succeeded`, `dead` or `cancelled`), watched over the event stream,
        or polled every `poll_interval` seconds where the stream cannot be had.

        Raises `WaitTimeout` (a `Timeout`, with the job as last read) after `timeout`
        seconds; without one it waits as long as it takes.
        """
        watch = JobWatch(str(job_id), timeout, poll_interval)
        try:
            while (job := self._watch_stream(watch)) is None:
                pass
            return job
        except StreamUnusable as exc:
            log.info("wait for job %s: polling, as the event stream cannot be used (%s)", job_id, exc)
        while True:
            job = self.get_job(job_id)
            delay = watch.next_poll(job)
            if delay is None:
                return job
            time.sleep(delay)

    def _watch_stream(self, watch: JobWatch) -> JobOut | None:
        """Read the stream until the job is final (return it) or the stream is to be reopened (None)."""
        headers, read_timeout = watch.open()
        timeout = httpx.Timeout(self._config.timeout_s, read=read_timeout)
        try:
            with self._http.stream("GET", EVENTS_PATH, headers=headers, timeout=timeout) as response:
                if not is_stream(response):
                    response.read()
                    raise stream_refused(response, self._config)
                if self._act(watch, watch.opened()):
                    return watch.job
                for line in response.iter_lines():
                    if self._act(watch, watch.line(line)):
                        return watch.job
                    if watch.must_reopen():
                        return None
        except httpx.TimeoutException:
            raise watch.read_timed_out() from None
        except httpx.TransportError as exc:
            raise StreamUnusable(type(exc).__name__) from None
        return None  # the API ends each stream after a few minutes: resume it

    def _act(self, watch: JobWatch, step: Step) -> bool:
        """Do what a step of the stream calls for; True once the job is final."""
        if step is Step.POLL:
            raise StreamUnusable("the API says the stream sees no changes for now")
        return step is Step.FETCH and watch.seen(self.get_job(watch.job_id))
