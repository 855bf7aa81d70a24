"""`/v1/schedules`: recurring jobs from cron expressions, fired once per slot by the leader."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from jobq_core.errors import UnknownJobType
from jobq_core.flows.submit import submit
from jobq_core.model import cron
from jobq_core.model.payloads import check
from jobq_core.pg import audit, schedules
from jobq_core.pg.apikeys import ApiKey, Scope
from jobq_core.pg.db import Q, unavailable_as_error
from jobq_core.pg.schedules import JobTemplate

from .. import views
from ..auth import require
from ..metrics import count_submitted
from ..models import JobOut, ScheduleIn, ScheduleJobIn, ScheduleListOut, ScheduleOut, SchedulePatch, ScheduleRunsOut
from ..problems import Problem, conflict, not_found

log = logging.getLogger("jobq.api")
NEXT_RUNS = 10
router = APIRouter(prefix="/v1/schedules", tags=["schedules"])
read = Depends(require(Scope.JOBS_READ))
write = Depends(require(Scope.JOBS_WRITE))


def _invalid(field: str, message: str) -> Problem:
    return Problem(
        422, "validation", "Invalid request", f"{field}: {message}", errors=[{"field": field, "message": message}]
    )


async def _template(request: Request, job: ScheduleJobIn) -> JobTemplate:
    """The job template with the job type's defaults, its payload checked now, not at each slot."""
    try:
        job_type = await request.app.state.job_types.get(job.type)
    except UnknownJobType as exc:
        raise UnknownJobType(exc.name, field="job.type") from None
    check(job_type.validator, job.payload, prefix="job.payload")
    return JobTemplate(
        type=job.type,
        payload=job.payload,
        queue=job.queue or job_type.queue,
        priority=job.priority,
        max_attempts=job.max_attempts or job_type.max_attempts,
        timeout_s=job.timeout_s or job_type.timeout_s,
        tags=list(job.tags),
    )


def _check_cron(expression: str, timezone: str) -> None:
    try:
        cron.zone(timezone)
    except ValueError as exc:
        raise _invalid("timezone", str(exc)) from None
    try:
        cron.validate(expression, timezone)
    except ValueError as exc:
        raise _invalid("cron", str(exc)) from None


def _next_runs(row: asyncpg.Record) -> list[datetime]:
    if row["paused"]:
        return []
    try:
        return cron.upcoming(row["cron"], row["timezone"], row["next_run_at"], NEXT_RUNS)
    except (ValueError, KeyError) as exc:  # a row written behind the API's back
        log.warning("schedule %s: no next runs: %s", row["name"], exc)
        return []


def _schedule(row: asyncpg.Record) -> dict[str, object]:
    return {**dict(row), "next_runs": _next_runs(row)}


def _name_taken(name: str) -> Problem:
    return conflict(f"a schedule named {name!r} exists already")


DECLARED: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "The schedule is declared in code (`declared_by`): the worker that declares it would"
        " undo the change at its next start, so change it there. Pausing and resuming it are allowed."
    }
}


def _refuse_declared(row: asyncpg.Record) -> None:
    """A schedule declared in code is changed in that code: a change here would be undone."""
    owner = row["declared_by"]
    if owner is not None:
        raise Problem(
            409,
            "schedule-declared-in-code",
            "Schedule declared in code",
            f"schedule {row['name']!r} is declared in code by {owner}: change or remove it there (its worker"
            " reconciles it at start-up and would undo a change made here); it can still be paused and resumed",
            declared_by=owner,
        )


@router.post("", status_code=201, response_model=ScheduleOut, summary="Create a schedule")
async def create_schedule(request: Request, body: ScheduleIn, key: ApiKey = write) -> Response:
    """Store a schedule; it first fires at its next slot."""
    _check_cron(body.cron, body.timezone)
    template = await _template(request, body.job)
    try:
        row = await schedules.create(
            request.app.state.pool,
            name=body.name,
            expression=body.cron,
            timezone=body.timezone,
            template=template,
            missed=cron.Missed(body.missed),
            paused=body.paused,
            now=datetime.now(UTC),
        )
    except asyncpg.UniqueViolationError:
        raise _name_taken(body.name) from None
    await audit.record(request.app.state.pool, key, "schedule.create", str(row["id"]), {"name": row["name"]})
    return views.JSONResponse(_schedule(row), status_code=201, headers={"Location": f"/v1/schedules/{row['id']}"})


@router.get("", response_model=ScheduleListOut, summary="List schedules")
async def list_schedules(request: Request, _: ApiKey = read) -> Response:
    """Every schedule, by name."""
    async with unavailable_as_error():
        rows = await request.app.state.pool.fetch(Q["list_schedules"])
    return views.JSONResponse({"schedules": [_schedule(r) for r in rows]})


async def _get(request: Request, schedule_id: uuid.UUID) -> asyncpg.Record:
    async with unavailable_as_error():
        row: asyncpg.Record | None = await request.app.state.pool.fetchrow(Q["get_schedule"], schedule_id)
    if row is None:
        raise not_found("schedule")
    return row


@router.get("/{schedule_id}", response_model=ScheduleOut, summary="Read a schedule")
async def get_schedule(request: Request, schedule_id: uuid.UUID, _: ApiKey = read) -> Response:
    """One schedule, with its next and last run."""
    return views.JSONResponse(_schedule(await _get(request, schedule_id)))


async def _update(
    request: Request, key: ApiKey, action: audit.Action, current: asyncpg.Record, patch: SchedulePatch
) -> Response:
    expression = patch.cron if patch.cron is not None else current["cron"]
    timezone = patch.timezone if patch.timezone is not None else current["timezone"]
    _check_cron(expression, timezone)
    template = await _template(request, patch.job) if patch.job is not None else JobTemplate.from_json(current["job"])
    name = patch.name if patch.name is not None else current["name"]
    try:
        row = await schedules.update(
            request.app.state.pool,
            current["id"],
            name=name,
            expression=expression,
            timezone=timezone,
            template=template,
            missed=cron.Missed(patch.missed or current["missed"]),
            paused=patch.paused if patch.paused is not None else current["paused"],
            now=datetime.now(UTC),
        )
    except asyncpg.UniqueViolationError:
        raise _name_taken(name) from None
    if row is None:
        raise not_found("schedule")
    detail: dict[str, object] = {"name": row["name"]}
    if action == "schedule.update":
        detail["changed"] = patch.model_dump(mode="json", exclude_unset=True)
    await audit.record(request.app.state.pool, key, action, str(row["id"]), detail)
    return views.JSONResponse(_schedule(row))


@router.patch("/{schedule_id}", response_model=ScheduleOut, responses=DECLARED, summary="Change a schedule")
async def update_schedule(
    request: Request, schedule_id: uuid.UUID, body: SchedulePatch, key: ApiKey = write
) -> Response:
    """Change any field; the schedule next fires at its next slot from now. A schedule
    declared in code is changed there (409)."""
    current = await _get(request, schedule_id)
    _refuse_declared(current)
    return await _update(request, key, "schedule.update", current, body)


@router.post("/{schedule_id}/pause", response_model=ScheduleOut, summary="Pause a schedule")
async def pause_schedule(request: Request, schedule_id: uuid.UUID, key: ApiKey = write) -> Response:
    """Stop firing until resumed; slots while paused are skipped."""
    return await _update(request, key, "schedule.pause", await _get(request, schedule_id), SchedulePatch(paused=True))


@router.post("/{schedule_id}/resume", response_model=ScheduleOut, summary="Resume a schedule")
async def resume_schedule(request: Request, schedule_id: uuid.UUID, key: ApiKey = write) -> Response:
    """Fire again from the next slot."""
    current = await _get(request, schedule_id)
    return await _update(request, key, "schedule.resume", current, SchedulePatch(paused=False))


@router.post("/{schedule_id}/run", status_code=201, response_model=JobOut, summary="Run a schedule now")
async def run_schedule(request: Request, schedule_id: uuid.UUID, key: ApiKey = write) -> Response:
    """Make one job from the schedule's job template now, paused or not. It is outside the
    slots: the next slot fires as it would have, once."""
    schedule = await _get(request, schedule_id)
    state = request.app.state
    result = await submit(state.pool, state.channel, [schedules.job_now(schedule, datetime.now(UTC))])
    count_submitted(result)
    if not result.dispatched:
        state.redis_down = True  # the row stays queued; the woken relay sends it
    job = result.jobs[0]
    detail = {"name": schedule["name"], "job_id": str(job["id"])}
    await audit.record(state.pool, key, "schedule.run", str(schedule_id), detail)
    return views.JSONResponse(views.job(job), status_code=201, headers={"Location": f"/v1/jobs/{job['id']}"})


@router.get("/{schedule_id}/runs", response_model=ScheduleRunsOut, summary="A schedule's recent runs")
async def schedule_runs(
    request: Request,
    schedule_id: uuid.UUID,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    _: ApiKey = read,
) -> Response:
    """The jobs the schedule made (slots and runs by hand), newest first, with their status."""
    await _get(request, schedule_id)
    rows = await schedules.recent_jobs(request.app.state.pool, schedule_id, limit)
    return views.JSONResponse({"jobs": [views.job(r) for r in rows]})


@router.delete("/{schedule_id}", status_code=204, responses=DECLARED, summary="Delete a schedule")
async def delete_schedule(request: Request, schedule_id: uuid.UUID, key: ApiKey = write) -> Response:
    """Delete a schedule; jobs it already made stay. A schedule declared in code is
    removed there (409)."""
    # A schedule's declared_by never changes once it is stored, so the check holds for the delete.
    current = await _get(request, schedule_id)
    _refuse_declared(current)
    async with unavailable_as_error():
        deleted = await request.app.state.pool.fetchval(Q["delete_schedule"], schedule_id)
    if deleted is None:
        raise not_found("schedule")
    await audit.record(request.app.state.pool, key, "schedule.delete", str(schedule_id), {"name": current["name"]})
    return Response(status_code=204)
