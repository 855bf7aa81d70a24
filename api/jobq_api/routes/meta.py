"""The calling key, job types, workers, and the probes."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from jobq_core.errors import UnavailableError
from jobq_core.pg import migrate
from jobq_core.pg.apikeys import ApiKey, Scope
from jobq_core.pg.db import Q, unavailable_as_error

from .. import views
from ..auth import any_key, require
from ..models import JobTypeListOut, MeOut, WorkerListOut

router = APIRouter()


@router.get("/v1/me", response_model=MeOut, tags=["meta"], summary="The calling API key")
async def me(key: ApiKey = Depends(any_key)) -> Response:
    """The key's name and scopes, and what they allow, for a client (the dashboard) to mirror.

    Any valid key may ask, whatever its scopes.
    """
    return views.JSONResponse(
        {
            "id": str(key.id),
            "name": key.name,
            "scopes": list(key.scopes),
            "can_read": key.allows(Scope.JOBS_READ),
            "can_write": key.allows(Scope.JOBS_WRITE),
            "can_admin": key.allows(Scope.ADMIN),
        }
    )


@router.get("/v1/job-types", response_model=JobTypeListOut, tags=["meta"], summary="List job types")
async def job_types(request: Request, _: ApiKey = Depends(require(Scope.JOBS_READ))) -> Response:
    """What workers can run, with each type's payload JSON Schema."""
    types = await request.app.state.job_types.all()
    return views.JSONResponse({"job_types": [t.as_dict() for t in types.values()]})


@router.get("/v1/workers", response_model=WorkerListOut, tags=["meta"], summary="List workers")
async def workers(request: Request, _: ApiKey = Depends(require(Scope.JOBS_READ))) -> Response:
    """Workers seen in the last hour, whether each is alive, and how many jobs it runs."""
    timeout_s = request.app.state.settings.worker_timeout_s
    async with unavailable_as_error():
        rows = await request.app.state.pool.fetch(Q["list_workers"], timeout_s)
    return views.JSONResponse({"workers": [dict(r) for r in rows]})


@router.get("/healthz", tags=["probes"], summary="Liveness")
async def healthz() -> Response:
    """200 while the process serves requests."""
    return views.JSONResponse({"status": "ok"})


@router.get("/readyz", tags=["probes"], summary="Readiness")
async def readyz(request: Request) -> Response:
    """200 when PostgreSQL (migrated) and Redis both answer; 503 naming what is not ready otherwise.

    An API started before its migration ran stays unready (out of its Service) until the
    schema is there, instead of answering requests with errors.
    """
    checks: dict[str, str] = {}
    try:
        async with unavailable_as_error():
            checks["postgres"] = await _schema_check(request)
    except UnavailableError as exc:
        checks["postgres"] = exc.message
    try:
        await request.app.state.channel.ping()
        checks["redis"] = "ok"
        request.app.state.redis_down = False
    except UnavailableError as exc:
        checks["redis"] = exc.message
    ready = all(v == "ok" for v in checks.values())
    return views.JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
    )


async def _schema_check(request: Request) -> str:
    """ "ok" once the schema has every migration this release ships (remembered: it never
    goes back), else what is missing; a plain round trip after that."""
    pool = request.app.state.pool
    if getattr(request.app.state, "schema_current", False):
        await pool.fetchval("SELECT 1", timeout=2)
        return "ok"
    pending = await asyncio.wait_for(migrate.missing(pool), 2)
    if pending:
        return migrate.describe_missing(pending)
    request.app.state.schema_current = True
    return "ok"
