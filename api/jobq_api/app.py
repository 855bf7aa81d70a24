"""The FastAPI application: routes, error handlers, and the connections it holds."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobq_core import __version__
from jobq_core.dispatch.channel import DispatchChannel
from jobq_core.errors import InvalidPayload, UnavailableError, UnknownJobType
from jobq_core.flows.submit import SingleSubmits
from jobq_core.pg.db import create_pool
from jobq_core.pg.jobtypes import JobTypeCache

from . import dashboard, problems
from .auth import KeyCache
from .event_hub import EventHub
from .metrics import RequestMetrics
from .metrics import router as metrics_router
from .routes import api_keys, audit, bulk_operations, dead_groups, jobs, local_mail, meta, queues, schedules, stats
from .routes import events as events_routes
from .routes import scalers as scalers_routes
from .settings import ApiSettings

log = logging.getLogger("jobq.api")

# Probes and scrapes come every few seconds and tell nothing about jobs: no spans for them,
# nor for the dashboard's pages and files, nor for the event stream (open for minutes).
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/v1/events"})


def untraced(scope: Scope) -> bool:
    """Whether a request gets no server span: a probe, a scrape, or the dashboard."""
    path: str = scope.get("path", "")
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :] or "/"
    return path in UNTRACED_PATHS or dashboard.is_dashboard_route(path)


class BodyLimit:
    """Refuse a request body larger than the limit with 413.

    A declared Content-Length is checked before reading; a body sent without one
    (chunked) is read up to the limit before the app sees it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, detail: str) -> None:
        response = problems.Problem(413, "body-too-large", "Request body too large", detail).response(scope["path"])
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if length.isdigit() and int(length) > self.max_bytes:
                await self._refuse(
                    scope, receive, send, f"the body is {int(length)} bytes; the limit is {self.max_bytes}"
                )
                return
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, f"the body is over the limit of {self.max_bytes} bytes")
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """The API application; reads settings from the environment when not given."""
    if settings is None:
        from jobq_core.settings import load

        settings = load(ApiSettings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(settings.database_url.get_secret_value(), size=settings.database_pool_size)
        channel = DispatchChannel.from_url(settings.redis_url.get_secret_value())
        app.state.pool = pool
        app.state.channel = channel
        app.state.single_submits = SingleSubmits(pool, channel)
        app.state.job_types = JobTypeCache(pool)
        app.state.key_cache = KeyCache(settings.api_key_cache_s)
        app.state.redis_down = False
        app.state.events = EventHub.on(
            pool, interval_s=settings.events_interval_s, worker_timeout_s=settings.worker_timeout_s
        )
        try:
            yield
        finally:
            await app.state.events.close()
            await channel.close()
            await pool.close()

    app = FastAPI(
        title="jobq",
        version=__version__,
        summary="Durable, observable jobs: submit over HTTP, run on workers.",
        lifespan=lifespan,
        # FastAPI's own server span per request ("POST /v1/jobs"), once jobq_core.telemetry.tracing
        # installed a provider; without one FastAPI skips it. Only that span: no spans
        # per dependency and endpoint, and no OpenTelemetry metrics or logs (jobq has its own).
        telemetry={
            "operation_spans": False,
            "metrics": False,
            "logs": False,
            "exclude": untraced,
        },
    )
    app.state.settings = settings
    app.include_router(jobs.router)
    app.include_router(queues.router)
    app.include_router(schedules.router)
    app.include_router(meta.router)
    app.include_router(api_keys.router)
    app.include_router(dead_groups.router)
    app.include_router(stats.router)
    app.include_router(audit.router)
    app.include_router(bulk_operations.router)
    app.include_router(scalers_routes.router)
    app.include_router(events_routes.router)
    if settings.local_mail_dir is not None:  # `jobq run`'s mail catcher; no such route elsewhere
        app.include_router(local_mail.router)
    app.include_router(metrics_router)
    app.include_router(dashboard.router(settings))
    handlers: dict[Any, Any] = {
        RequestValidationError: problems.on_validation_error,
        problems.Problem: problems.on_problem,
        InvalidPayload: problems.on_invalid_payload,
        UnknownJobType: problems.on_unknown_type,
        UnavailableError: problems.on_unavailable,
        StarletteHTTPException: problems.on_http_error,
        Exception: problems.on_unexpected,
    }
    for exc_class, handler in handlers.items():
        app.add_exception_handler(exc_class, handler)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics)  # outside BodyLimit: refused bodies are counted too
    return app
