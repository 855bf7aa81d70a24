"""Every call the clients make, written once: each operation is a generator that yields the
`Call`s it needs and returns its result. `Client` runs them with blocking I/O,
`AsyncClient` with asyncio; neither repeats what a call sends or what its answer means.

The methods of both clients are these functions: their docstrings and signatures are the
clients' (`help(Client.submit)`).
"""

from __future__ import annotations

import functools
import inspect
import re
import uuid
from collections.abc import Callable, Generator, Iterable, Mapping
from datetime import datetime
from typing import Any, Literal, TypedDict, TypeVar, Unpack, cast
from urllib.parse import quote

from pydantic_core import to_jsonable_python

from .calls import Call, Read
from .errors import ApiError, JobqError
from .models import (
    BatchOut,
    JobCountOut,
    JobIn,
    JobListOut,
    JobOut,
    JobStatus,
    JobTypeListOut,
    JobTypeOut,
    MeOut,
    QueueListOut,
    QueueOut,
    ScheduleJobIn,
    ScheduleListOut,
    ScheduleOut,
    ScheduleRunsOut,
    WorkerListOut,
    WorkerOut,
)
from .names import IDEMPOTENCY_HEADER

R = TypeVar("R")
Op = Generator[Call, Any, R]
"""An operation: yields calls, is sent each call's result (or thrown its error), returns its own."""

DEFAULT_CHUNK = 1_000
"""Jobs per `POST /v1/jobs/batch` in `submit_batch` (the API takes up to `JOBQ_MAX_BATCH_JOBS`, 10,000 by default)."""

Id = str | uuid.UUID
Missed = Literal["skip", "run_once"]
Progress = Callable[[int, int], None]


def _segment(value: Id) -> str:
    """An id or name as one path segment, whatever it holds."""
    return quote(str(value), safe="")


def _json(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that were given (not None), as JSON values (datetimes as RFC 3339)."""
    body: dict[str, Any] = to_jsonable_python({k: v for k, v in fields.items() if v is not None})
    return body


def _job_body(job: JobIn | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(job, JobIn):
        return _json(job.model_dump(exclude_unset=True))
    return _json(job)


def new_idempotency_key() -> str:
    """A key for a submit the caller gave none: every retry of that submit sends the same one."""
    return str(uuid.uuid4())


def submit(
    type: str,
    payload: Any = None,
    *,
    queue: str | None = None,
    priority: int | None = None,
    run_at: datetime | None = None,
    delay_s: float | None = None,
    max_attempts: int | None = None,
    timeout_s: float | None = None,
    idempotency_key: str | None = None,
    tags: list[str] | None = None,
    cloned_from: Id | None = None,
) -> Op[JobOut]:
    """Submit one job (`POST /v1/jobs`) and return it.

    It goes with an idempotency key, `idempotency_key` or one made for this call (then
    stored as the job's), so the client may send it again after a lost answer or a 503:
    a repeat returns the first job, never a second.
    """
    body = _json(
        {
            "type": type,
            "payload": payload,
            "queue": queue,
            "priority": priority,
            "run_at": run_at,
            "delay_s": delay_s,
            "max_attempts": max_attempts,
            "timeout_s": timeout_s,
            "tags": tags,
            "cloned_from": None if cloned_from is None else str(cloned_from),
        }
    )
    headers = {IDEMPOTENCY_HEADER: idempotency_key or new_idempotency_key()}
    job: JobOut = yield Call("POST", "/v1/jobs", Read(JobOut), json=body, headers=headers, safe=True)
    return job


def submit_batch(
    jobs: Iterable[JobIn | Mapping[str, Any]],
    *,
    chunk_size: int = DEFAULT_CHUNK,
    on_progress: Progress | None = None,
) -> Op[list[JobOut]]:
    """Submit many jobs, `chunk_size` per `POST /v1/jobs/batch`; return them in order.

    Each chunk is all or nothing. A job without an idempotency key gets one, so a chunk
    sent again after a lost answer or a 503 stores nothing twice. `on_progress(done,
    total)` is called after each chunk. When a chunk fails, the error names fields by
    their index in `jobs` (`jobs[1203].type`) and its `submitted` holds the jobs the
    earlier chunks stored.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    bodies = [_job_body(job) for job in jobs]
    for body in bodies:
        body.setdefault("idempotency_key", new_idempotency_key())
    done: list[JobOut] = []
    for start in range(0, len(bodies), chunk_size):
        chunk = bodies[start : start + chunk_size]
        try:
            answer: BatchOut = yield Call("POST", "/v1/jobs/batch", Read(BatchOut), json={"jobs": chunk}, safe=True)
        except JobqError as exc:
            raise _in_whole_batch(exc, start, done) from None
        done += answer.jobs
        if on_progress is not None:
            on_progress(len(done), len(bodies))
    return done


_BATCH_INDEX = re.compile(r"\bjobs\[(\d+)\]")


def _in_whole_batch(exc: JobqError, offset: int, submitted: list[JobOut]) -> JobqError:
    """`exc` from one chunk as the whole batch's: field indexes shifted by `offset`, the stored jobs attached."""
    if isinstance(exc, ApiError) and offset:

        def shift(text: str) -> str:
            return _BATCH_INDEX.sub(lambda m: f"jobs[{int(m.group(1)) + offset}]", text)

        problem = dict(exc.problem)
        if isinstance(problem.get("detail"), str):
            problem["detail"] = shift(problem["detail"])
        problem["errors"] = [{"field": shift(f.name), "message": f.message} for f in exc.fields]
        moved = type(exc)(exc.method, exc.path, exc.status, problem, retry_after=exc.retry_after)
        moved.__cause__ = exc.__cause__
        exc = moved
    exc.submitted = tuple(submitted)
    return exc


def get_job(job_id: Id) -> Op[JobOut]:
    """The job (`GET /v1/jobs/{id}`): status, attempts, progress, result or error, and its attempts' history."""
    job: JobOut = yield Call("GET", f"/v1/jobs/{_segment(job_id)}", Read(JobOut), safe=True)
    return job


class JobFilters(TypedDict, total=False):
    """The filters `list_jobs` and `iter_jobs` take as keyword arguments; None is no filter."""

    status: JobStatus | Iterable[JobStatus] | None
    type: str | None
    queue: str | None
    tag: str | None
    created_after: datetime | None
    created_before: datetime | None
    error: str | None
    payload: Iterable[str] | None


F = TypeVar("F", bound=Callable[..., Any])


def takes_filters(fn: F) -> F:
    """`fn`, whose `**filters` are `JobFilters`, with each filter in its signature (`help()`, `inspect`),
    refusing any other keyword when called, as Python refuses one a signature lacks."""
    signature = inspect.signature(fn)
    keyword = inspect.Parameter.KEYWORD_ONLY
    filters = [
        inspect.Parameter(name, keyword, default=None, annotation=getattr(annotation, "__forward_arg__", annotation))
        for name, annotation in JobFilters.__annotations__.items()
    ]
    before = [p for p in signature.parameters.values() if p.kind < keyword]
    after = [p for p in signature.parameters.values() if p.kind == keyword]
    expanded = signature.replace(parameters=[*before, *filters, *after])

    @functools.wraps(fn)
    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            expanded.bind(*args, **kwargs)
        except TypeError as exc:  # got an unexpected keyword argument …
            raise TypeError(f"{fn.__qualname__}() {exc}") from None
        return fn(*args, **kwargs)

    checked.__signature__ = expanded  # type: ignore[attr-defined]
    return cast(F, checked)


@takes_filters
def list_jobs(*, limit: int | None = None, cursor: str | None = None, **filters: Unpack[JobFilters]) -> Op[JobListOut]:
    """One page of jobs, newest first (`GET /v1/jobs`); pass its `next_cursor` as `cursor` for the next.

    Filters combine: `status` (one or several), `type`, `queue`, `tag`, `created_after`,
    `created_before`, `error` (text in the last error's message) and `payload`
    (`"path=value"` filters, e.g. `"user.id=123"`). `limit` is 1–500 (the API's default 50).
    """
    given = {name: filters.get(name) for name in JobFilters.__annotations__}  # the query in one order
    page: JobListOut = yield Call(
        "GET", "/v1/jobs", Read(JobListOut), params=_params(**given, limit=limit, cursor=cursor), safe=True
    )
    return page


@takes_filters
def count_jobs(**filters: Unpack[JobFilters]) -> Op[JobCountOut]:
    """How many jobs `list_jobs` with these filters lists (`GET /v1/jobs/count`): `count.value`,
    exact when `count.exact`, else PostgreSQL's estimate (given above 10,000)."""
    given = {name: filters.get(name) for name in JobFilters.__annotations__}
    counted: JobCountOut = yield Call("GET", "/v1/jobs/count", Read(JobCountOut), params=_params(**given), safe=True)
    return counted


def _params(**values: Any) -> tuple[tuple[str, str], ...]:
    """Query parameters from the values given; an iterable repeats its name."""
    params = []
    for name, value in values.items():
        if value is None:
            continue
        for item in [value] if isinstance(value, str | int | float | datetime) else value:
            params.append((name, item.isoformat() if isinstance(item, datetime) else str(item)))
    return tuple(params)


def cancel_job(job_id: Id) -> Op[JobOut]:
    """Cancel a job: a scheduled or queued one never runs; a running one is asked to stop and ends `cancelled`."""
    job: JobOut = yield Call("POST", f"/v1/jobs/{_segment(job_id)}/cancel", Read(JobOut))
    return job


def retry_job(job_id: Id) -> Op[JobOut]:
    """Send a dead or cancelled job back to its queue with one more attempt."""
    job: JobOut = yield Call("POST", f"/v1/jobs/{_segment(job_id)}/retry", Read(JobOut))
    return job


def run_job_now(job_id: Id) -> Op[JobOut]:
    """Make a scheduled job (delayed, or waiting out a retry's back-off) due now."""
    job: JobOut = yield Call("POST", f"/v1/jobs/{_segment(job_id)}/run-now", Read(JobOut))
    return job


def delete_job(job_id: Id) -> Op[None]:
    """Delete a job that is not running."""
    yield Call("DELETE", f"/v1/jobs/{_segment(job_id)}", Read(None))


def list_queues() -> Op[list[QueueOut]]:
    """Every queue: ready, scheduled, running and dead counts, the oldest ready job's age, paused or not."""
    queues: list[QueueOut] = yield Call("GET", "/v1/queues", Read(QueueListOut, "queues"), safe=True)
    return queues


def pause_queue(name: str) -> Op[QueueOut]:
    """Pause a queue (`admin`): its jobs wait until it is resumed."""
    queue: QueueOut = yield Call("POST", f"/v1/queues/{_segment(name)}/pause", Read(QueueOut))
    return queue


def resume_queue(name: str) -> Op[QueueOut]:
    """Resume a paused queue (`admin`)."""
    queue: QueueOut = yield Call("POST", f"/v1/queues/{_segment(name)}/resume", Read(QueueOut))
    return queue


def list_workers() -> Op[list[WorkerOut]]:
    """Workers seen in the last hour, alive or not, with their running-job counts."""
    workers: list[WorkerOut] = yield Call("GET", "/v1/workers", Read(WorkerListOut, "workers"), safe=True)
    return workers


def list_job_types() -> Op[list[JobTypeOut]]:
    """What the workers can run, each with its payload's JSON Schema."""
    types: list[JobTypeOut] = yield Call("GET", "/v1/job-types", Read(JobTypeListOut, "job_types"), safe=True)
    return types


def me() -> Op[MeOut]:
    """The calling API key: its id, name and scopes, and what they allow."""
    key: MeOut = yield Call("GET", "/v1/me", Read(MeOut), safe=True)
    return key


def list_schedules() -> Op[list[ScheduleOut]]:
    """Every schedule, by name."""
    schedules: list[ScheduleOut] = yield Call("GET", "/v1/schedules", Read(ScheduleListOut, "schedules"), safe=True)
    return schedules


def get_schedule(schedule_id: Id) -> Op[ScheduleOut]:
    """One schedule, with its next runs."""
    schedule: ScheduleOut = yield Call("GET", f"/v1/schedules/{_segment(schedule_id)}", Read(ScheduleOut), safe=True)
    return schedule


def create_schedule(
    name: str,
    cron: str,
    job: ScheduleJobIn | Mapping[str, Any],
    *,
    timezone: str | None = None,
    missed: Missed | None = None,
    paused: bool | None = None,
) -> Op[ScheduleOut]:
    """Create a recurring schedule: `job` (`type`, `payload`, …) is submitted at each slot of `cron`
    read in `timezone` (IANA, default UTC); `missed` is `skip` (default) or `run_once`."""
    body = _json({"name": name, "cron": cron, "job": _template(job), "timezone": timezone, "missed": missed})
    if paused is not None:
        body["paused"] = paused
    schedule: ScheduleOut = yield Call("POST", "/v1/schedules", Read(ScheduleOut), json=body)
    return schedule


def _template(job: ScheduleJobIn | Mapping[str, Any]) -> dict[str, Any]:
    return _json(job.model_dump(exclude_unset=True) if isinstance(job, ScheduleJobIn) else job)


def update_schedule(
    schedule_id: Id,
    *,
    name: str | None = None,
    cron: str | None = None,
    timezone: str | None = None,
    job: ScheduleJobIn | Mapping[str, Any] | None = None,
    missed: Missed | None = None,
    paused: bool | None = None,
) -> Op[ScheduleOut]:
    """Change the fields given; the schedule next fires at its next slot from now."""
    body = _json(
        {
            "name": name,
            "cron": cron,
            "timezone": timezone,
            "job": None if job is None else _template(job),
            "missed": missed,
            "paused": paused,
        }
    )
    path = f"/v1/schedules/{_segment(schedule_id)}"
    schedule: ScheduleOut = yield Call("PATCH", path, Read(ScheduleOut), json=body)
    return schedule


def pause_schedule(schedule_id: Id) -> Op[ScheduleOut]:
    """Stop firing a schedule until it is resumed; slots meanwhile are skipped."""
    path = f"/v1/schedules/{_segment(schedule_id)}/pause"
    schedule: ScheduleOut = yield Call("POST", path, Read(ScheduleOut))
    return schedule


def resume_schedule(schedule_id: Id) -> Op[ScheduleOut]:
    """Fire a paused schedule again from its next slot."""
    path = f"/v1/schedules/{_segment(schedule_id)}/resume"
    schedule: ScheduleOut = yield Call("POST", path, Read(ScheduleOut))
    return schedule


def run_schedule(schedule_id: Id) -> Op[JobOut]:
    """Make one job from the schedule's template now, outside its slots; return the job."""
    job: JobOut = yield Call("POST", f"/v1/schedules/{_segment(schedule_id)}/run", Read(JobOut))
    return job


def schedule_runs(schedule_id: Id, *, limit: int | None = None) -> Op[list[JobOut]]:
    """The jobs a schedule made (its slots and runs by hand), newest first; `limit` 1–200 (default 20)."""
    path = f"/v1/schedules/{_segment(schedule_id)}/runs"
    jobs: list[JobOut] = yield Call("GET", path, Read(ScheduleRunsOut, "jobs"), params=_params(limit=limit), safe=True)
    return jobs


def delete_schedule(schedule_id: Id) -> Op[None]:
    """Delete a schedule; the jobs it made stay."""
    yield Call("DELETE", f"/v1/schedules/{_segment(schedule_id)}", Read(None))


def method_signature(op: Callable[..., Op[Any]]) -> inspect.Signature:
    """`op`'s signature as a client method's: `self` first, and the result the operation returns."""
    signature = inspect.signature(op)
    self = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    result = signature.return_annotation
    if isinstance(result, str) and result.startswith("Op[") and result.endswith("]"):
        result = result[3:-1]
    return signature.replace(parameters=[self, *signature.parameters.values()], return_annotation=result)
