"""`/v1/jobs`: submit, batch submit, read, list, export, cancel, retry, delete."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Literal

import asyncpg
import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import Field

from jobq_core.dispatch.channel import DispatchChannel
from jobq_core.errors import UnknownJobType
from jobq_core.flows.cancel import cancel
from jobq_core.flows.submit import SingleSubmits, Submitted, build, dispatch_waiting, submit
from jobq_core.model.jobtype import JobType
from jobq_core.model.states import CANCELLABLE, RETRYABLE_BY_HAND, JobStatus
from jobq_core.names import IDEMPOTENCY_HEADER
from jobq_core.pg import audit, job_search, store
from jobq_core.pg.apikeys import ApiKey, Scope

from .. import payload_filter, views
from ..auth import require
from ..metrics import count_submitted
from ..models import BatchIn, BatchOut, JobCountOut, JobIn, JobListOut, JobOut, Text
from ..problems import Problem, conflict, not_found
from ..settings import ApiSettings

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
read = Depends(require(Scope.JOBS_READ))
write = Depends(require(Scope.JOBS_WRITE))


async def _job_type(request: Request, name: str, field: str) -> JobType:
    try:
        job_type: JobType = await request.app.state.job_types.get(name)
    except UnknownJobType as exc:
        raise UnknownJobType(exc.name, field=field) from None
    return job_type


def _new_job(settings: ApiSettings, item: JobIn, job_type: JobType, field_prefix: str, now: datetime) -> store.NewJob:
    size = len(orjson.dumps(item.payload))
    if size > settings.max_payload_bytes:
        field = field_prefix + "payload"
        raise Problem(
            413,
            "payload-too-large",
            "Payload too large",
            f"{field} is {size} bytes; the limit is {settings.max_payload_bytes}",
            errors=[{"field": field, "message": f"larger than {settings.max_payload_bytes} bytes"}],
        )
    return build(item, job_type, now, field_prefix=field_prefix + "payload")


async def _check_clone_sources(request: Request, items: list[JobIn], field_prefix: str | None) -> None:
    """A 422 naming `cloned_from` (`jobs[i].cloned_from` in a batch) when that job does not exist."""
    wanted = {item.cloned_from for item in items if item.cloned_from is not None}
    if not wanted:
        return
    found = await store.existing_ids(request.app.state.pool, list(wanted))
    for i, item in enumerate(items):
        if item.cloned_from is not None and item.cloned_from not in found:
            field = "cloned_from" if field_prefix is None else f"{field_prefix}[{i}].cloned_from"
            raise Problem(
                422,
                "validation",
                "Invalid request",
                f"{field}: no job with id {item.cloned_from}",
                errors=[{"field": field, "message": f"no job with id {item.cloned_from}"}],
            )


async def _submit(request: Request, new_jobs: list[store.NewJob]) -> Submitted:
    state = request.app.state
    channel: DispatchChannel = state.channel
    if state.redis_down:
        # Refuse new work while Redis is known to be down, rather than pile up jobs
        # only the relay can send; one ping tells whether it is back.
        await channel.ping()
        state.redis_down = False
    if len(new_jobs) == 1:
        single_submits: SingleSubmits = state.single_submits
        result = await single_submits.submit(new_jobs[0])  # grouped with concurrent ones
    else:
        result = await submit(state.pool, channel, new_jobs)
    count_submitted(result)
    if not result.dispatched:
        state.redis_down = True
    return result


@router.post(
    "",
    status_code=201,
    response_model=JobOut,
    responses={200: {"model": JobOut, "description": "The job an earlier submit with this idempotency key made."}},
    summary="Submit one job",
)
async def submit_job(
    request: Request,
    body: JobIn,
    idempotency_key: Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER, max_length=255)] = None,
    _: ApiKey = write,
) -> Response:
    """Record a job and dispatch it. A repeated idempotency key returns the first job with 200."""
    if idempotency_key is not None:
        if body.idempotency_key not in (None, idempotency_key):
            raise Problem(
                422,
                "validation",
                "Invalid request",
                "the Idempotency-Key header and idempotency_key field differ",
                errors=[{"field": "idempotency_key", "message": "differs from the Idempotency-Key header"}],
            )
        body = body.model_copy(update={"idempotency_key": idempotency_key})
    job_type = await _job_type(request, body.type, "type")
    await _check_clone_sources(request, [body], None)
    new_job = _new_job(request.app.state.settings, body, job_type, "", datetime.now(UTC))
    result = await _submit(request, [new_job])
    job, created = result.jobs[0], result.created[0]
    return views.JSONResponse(
        views.job(job), status_code=201 if created else 200, headers={"Location": f"/v1/jobs/{job['id']}"}
    )


@router.post("/batch", status_code=201, response_model=BatchOut, summary="Submit many jobs at once")
async def submit_batch(request: Request, body: BatchIn, _: ApiKey = write) -> Response:
    """Record every job in one transaction (all or nothing) and dispatch them in one pipeline."""
    settings = request.app.state.settings
    limit = settings.max_batch_jobs
    if len(body.jobs) > limit:
        raise Problem(
            413,
            "batch-too-large",
            "Batch too large",
            f"{len(body.jobs)} jobs; the limit is {limit}",
            errors=[{"field": "jobs", "message": f"more than {limit} jobs"}],
        )
    await _check_clone_sources(request, body.jobs, "jobs")
    now = datetime.now(UTC)
    # Each job type is looked up once per batch; jobs are still checked in request order,
    # so the first bad job is the one reported.
    types: dict[str, JobType] = {}
    new_jobs = []
    for i, item in enumerate(body.jobs):
        job_type = types.get(item.type)
        if job_type is None:
            job_type = types[item.type] = await _job_type(request, item.type, f"jobs[{i}].type")
        new_jobs.append(_new_job(settings, item, job_type, f"jobs[{i}].", now))
    result = await _submit(request, new_jobs)
    created = sum(result.created)
    return views.JSONResponse(
        {"jobs": [views.job(j) for j in result.jobs], "created": created},
        status_code=201 if created else 200,
    )


def job_filters(
    status: Annotated[list[JobStatus] | None, Query(description="Repeat for several.")] = None,
    type: Annotated[Text | None, Query(max_length=200)] = None,
    queue: Annotated[Text | None, Query(max_length=100)] = None,
    tag: Annotated[Text | None, Query(max_length=100)] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    error: Annotated[
        Text | None,
        Query(
            min_length=1,
            max_length=200,
            description="Jobs whose last error message contains this text, ignoring case;"
            " `%`, `_` and `\\` match only themselves. Text of three characters or more is found"
            " through an index; shorter text reads every job with an error.",
        ),
    ] = None,
    payload: Annotated[
        list[Annotated[Text, Field(max_length=200)]] | None,
        Query(
            max_length=20,
            description="`path=value`: jobs whose payload has `value` at `path`, e.g. `user.id=123`."
            " The path is dot-separated object keys (letters, digits, `_`, `-`); the value is a JSON"
            ' scalar (`123`, `1.5`, `true`, `null`, `"123"` for the string) or else a plain string.'
            " Repeat for several; a job must match all of them.",
        ),
    ] = None,
) -> job_search.JobFilter:
    """The filters `GET /v1/jobs` and `GET /v1/jobs/count` share, from the query string."""
    return job_search.JobFilter(
        statuses=[str(s) for s in status] if status else None,
        type=type,
        queue=queue,
        tag=tag,
        created_after=created_after,
        created_before=created_before,
        error=error,
        payload=payload_filter.containment(payload or []),
    )


Filters = Annotated[job_search.JobFilter, Depends(job_filters)]


@router.get("", response_model=JobListOut, summary="List jobs")
async def list_jobs(
    request: Request,
    filters: Filters,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    _: ApiKey = read,
) -> Response:
    """Jobs newest first, filtered; follow `next_cursor` for the next page.

    Filters combine: a job is listed when it matches every one given. `error` looks at
    the job's `error.message`, its last failed attempt's (a job that then succeeded has none).
    Each `payload` filter matches by containment: `user.id=123` lists jobs whose payload
    is `{"user": {"id": 123, ...}, ...}`; a filter that is not `path=value`, or two that
    disagree on one path, are a 422 naming `payload[i]`. A page costs the same at any
    depth: the cursor is a position, not an offset.
    """
    after = views.decode_cursor(cursor) if cursor else None
    rows = await job_search.list_jobs(request.app.state.pool, filters, limit=limit + 1, after=after)
    page, more = rows[:limit], len(rows) > limit
    next_cursor = views.encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None
    return views.JSONResponse({"jobs": [views.job(j) for j in page], "next_cursor": next_cursor})


@router.get("/count", response_model=JobCountOut, summary="Count jobs")
async def count_jobs(request: Request, filters: Filters, _: ApiKey = read) -> Response:
    """How many jobs `GET /v1/jobs` with the same filters lists: exact up to 10,000, and
    above that PostgreSQL's estimate, marked `"exact": false` (reading millions of rows to
    count them would cost seconds on every call)."""
    count = await job_search.count_jobs(request.app.state.pool, filters)
    return views.JSONResponse({"count": {"value": count.value, "exact": count.exact}})


EXPORT_PAGE = 1_000
"""Jobs an export reads and sends at a time: the API holds one such page, whatever the total."""

EXPORT_FORMATS = {
    "jsonl": ("application/x-ndjson", views.jobs_as_json_lines),
    "csv": ("text/csv; charset=utf-8", views.jobs_as_csv),
}


@router.get(
    "/export",
    summary="Export every matching job",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Every matching job, newest first, streamed.",
            "content": {"application/x-ndjson": {}, "text/csv": {}},
        }
    },
)
async def export_jobs(
    request: Request,
    filters: Filters,
    format: Annotated[
        Literal["jsonl", "csv"],
        Query(description="`jsonl`: one job document per line; `csv`: a header row, then one row per job."),
    ] = "jsonl",
    _: ApiKey = read,
) -> Response:
    """Every job `GET /v1/jobs` with the same filters lists, in one download, newest first.

    It is sent as it is read, a page at a time, so an export of millions costs the API
    the memory of one page. It is not a snapshot: jobs submitted after it starts are not
    in it, and a job whose state changes meanwhile is written as it was when its page was
    read. A failure after the first bytes cuts the download short (the HTTP transfer ends
    incomplete), never a file that looks whole. CSV fields: the job document's, the
    payload, result, error and tags as JSON text, empty for null.
    """
    media_type, encode = EXPORT_FORMATS[format]
    pages = job_search.walk_jobs(request.app.state.pool, filters, page=EXPORT_PAGE)
    first = await anext(pages)  # read before the 200 is sent: an outage now is still a 503

    async def body() -> AsyncIterator[bytes]:
        if format == "csv":
            yield views.csv_header()
        yield encode(first)
        async for page in pages:
            yield encode(page)

    disposition = f'attachment; filename="jobs.{format}"'
    return StreamingResponse(body(), media_type=media_type, headers={"Content-Disposition": disposition})


@router.get("/{job_id}", response_model=JobOut, summary="Read one job")
async def get_job(request: Request, job_id: uuid.UUID, _: ApiKey = read) -> Response:
    """The job with its status, attempts, progress, result or error, and attempt history."""
    pool = request.app.state.pool
    job = await store.get_job(pool, job_id)
    if job is None:
        raise not_found()
    return views.JSONResponse(views.job(job, await store.job_attempts(pool, job_id)))


async def _refusal(pool: asyncpg.Pool, job_id: uuid.UUID, action: str, allowed: str) -> Problem:
    """Why a guarded action changed nothing: no such job (404), or its state forbids it (409)."""
    current = await store.get_job(pool, job_id)
    if current is None:
        return not_found()
    return conflict(f"a {current['status']} job cannot be {action}; {allowed}", job_status=current["status"])


@router.post(
    "/{job_id}/cancel",
    response_model=JobOut,
    responses={202: {"model": JobOut, "description": "The job is running; it has been asked to stop."}},
    summary="Cancel a job",
)
async def cancel_job(request: Request, job_id: uuid.UUID, key: ApiKey = write) -> Response:
    """Cancel a job: a scheduled or queued one will not run (200); a running one is told
    to stop and ends `cancelled`, without a retry (202)."""
    pool = request.app.state.pool
    done = await cancel(pool, request.app.state.channel, job_id)
    if done is not None:
        await audit.record(pool, key, "job.cancel", str(job_id))
        return views.JSONResponse(views.job(done.job), status_code=202 if done.was_running else 200)
    raise await _refusal(pool, job_id, "cancelled", f"only {', '.join(sorted(CANCELLABLE))} and running jobs can")


@router.post("/{job_id}/retry", response_model=JobOut, summary="Retry a dead or cancelled job")
async def retry_job(request: Request, job_id: uuid.UUID, key: ApiKey = write) -> Response:
    """Send a dead or cancelled job back to its queue with one more attempt."""
    pool = request.app.state.pool
    job = await store.retry(pool, job_id)
    if job is None:
        raise await _refusal(pool, job_id, "retried", f"only {', '.join(sorted(RETRYABLE_BY_HAND))} jobs can")
    await audit.record(pool, key, "job.retry", str(job_id))
    if not await dispatch_waiting(pool, request.app.state.channel, [job]):
        request.app.state.redis_down = True  # the row stays queued; the woken relay sends it
    return views.JSONResponse(views.job(job))


@router.post("/{job_id}/run-now", response_model=JobOut, summary="Run a scheduled job now")
async def run_job_now(request: Request, job_id: uuid.UUID, key: ApiKey = write) -> Response:
    """Make a scheduled job (delayed, or waiting out a retry's back-off) due now and send it to
    its queue; 409 for a job in any other state."""
    pool = request.app.state.pool
    job = await store.run_now(pool, job_id)
    if job is None:
        raise await _refusal(pool, job_id, "run now", "only scheduled jobs can")
    await audit.record(pool, key, "job.run_now", str(job_id))
    if not await dispatch_waiting(pool, request.app.state.channel, [job]):
        request.app.state.redis_down = True  # the row stays queued; the woken relay sends it
    return views.JSONResponse(views.job(job))


@router.delete("/{job_id}", status_code=204, summary="Delete a job")
async def delete_job(request: Request, job_id: uuid.UUID, key: ApiKey = write) -> Response:
    """Delete a job that is not running."""
    pool = request.app.state.pool
    if not await store.delete(pool, job_id):
        if await store.get_job(pool, job_id) is None:
            raise not_found()
        raise conflict("a running job cannot be deleted; cancel it first", job_status="running")
    await audit.record(pool, key, "job.delete", str(job_id))
    return Response(status_code=204)
