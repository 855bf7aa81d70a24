"""`/v1/schedules`: recurring jobs from cron expressions, fired once per slot by the leader."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from jobq_core.errors import UnknownJobType
from jobq_core.model import cron
from jobq_core.model.payloads import check
from jobq_core.pg import schedules
from jobq_core.pg.apikeys import Scope
from jobq_core.pg.db import Q, unavailable_as_error
from jobq_core.pg.schedules import JobTemplate

from .. import views
from ..auth import require
from ..models import ScheduleIn, ScheduleJobIn, ScheduleListOut, ScheduleOut, SchedulePatch
from ..problems import Problem, conflict, not_found

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


def _schedule(row: asyncpg.Record) -> dict[str, object]:
    return dict(row)


def _name_taken(name: str) -> Problem:
    return conflict(f"a schedule named {name!r} exists already")


@router.post("", status_code=201, response_model=ScheduleOut, summary="Create a schedule")
async def create_schedule(request: Request, body: ScheduleIn, _: list[str] = write) -> Response:
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
    return views.JSONResponse(_schedule(row), status_code=201, headers={"Location": f"/v1/schedules/{row['id']}"})


@router.get("", response_model=ScheduleListOut, summary="List schedules")
async def list_schedules(request: Request, _: list[str] = read) -> Response:
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
async def get_schedule(request: Request, schedule_id: uuid.UUID, _: list[str] = read) -> Response:
    """One schedule, with its next and last run."""
    return views.JSONResponse(_schedule(await _get(request, schedule_id)))


async def _update(request: Request, current: asyncpg.Record, patch: SchedulePatch) -> Response:
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
    return views.JSONResponse(_schedule(row))


@router.patch("/{schedule_id}", response_model=ScheduleOut, summary="Change a schedule")
async def update_schedule(
    request: Request, schedule_id: uuid.UUID, body: SchedulePatch, _: list[str] = write
) -> Response:
    """Change any field; the schedule next fires at its next slot from now."""
    return await _update(request, await _get(request, schedule_id), body)


@router.post("/{schedule_id}/pause", response_model=ScheduleOut, summary="Pause a schedule")
async def pause_schedule(request: Request, schedule_id: uuid.UUID, _: list[str] = write) -> Response:
    """Stop firing until resumed; slots while paused are skipped."""
    return await _update(request, await _get(request, schedule_id), SchedulePatch(paused=True))


@router.post("/{schedule_id}/resume", response_model=ScheduleOut, summary="Resume a schedule")
async def resume_schedule(request: Request, schedule_id: uuid.UUID, _: list[str] = write) -> Response:
    """Fire again from the next slot."""
    return await _update(request, await _get(request, schedule_id), SchedulePatch(paused=False))


@router.delete("/{schedule_id}", status_code=204, summary="Delete a schedule")
async def delete_schedule(request: Request, schedule_id: uuid.UUID, _: list[str] = write) -> Response:
    """Delete a schedule; jobs it already made stay."""
    async with unavailable_as_error():
        deleted = await request.app.state.pool.fetchval(Q["delete_schedule"], schedule_id)
    if deleted is None:
        raise not_found("schedule")
    return Response(status_code=204)
