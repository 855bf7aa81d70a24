"""The API's metrics: every request by route template, method and status, its latency,
jobs submitted by type and queue, and the `/metrics` page.

`/metrics` needs no API key, like the probes (the v1 contract lists it with them):
Prometheus scrapes it from inside the cluster. The page holds counts and latencies,
never ids, payloads or keys.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobq_core.flows.submit import Submitted
from jobq_core.telemetry import metrics as m

from .dashboard import is_dashboard_route

m.use(m.API)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

router = APIRouter()


@router.get("/metrics", tags=["probes"], summary="Prometheus metrics", response_class=Response)
async def metrics_page(request: Request) -> Response:
    """The Prometheus text format (OpenMetrics when asked for); all processes' counts in multiprocess mode."""
    body, content_type = m.exposition(request.headers.get("accept", ""))
    return Response(body, media_type=content_type)


def count_submitted(result: Submitted) -> None:
    """Count the jobs a submit created (a repeated idempotency key creates none)."""
    pairs = zip(result.jobs, result.created, strict=True)
    counts = Counter((job["type"], job["queue"]) for job, created in pairs if created)
    for (job_type, queue), n in counts.items():
        m.JOBS_SUBMITTED.labels(job_type, queue).inc(n)


def _templates(app: Any) -> list[tuple[re.Pattern[str], str, set[str]]]:
    """The app's route templates with their path patterns and methods, built once."""
    cached = getattr(app.state, "route_templates", None)
    if cached is None:
        cached = []
        for template, operations in app.openapi().get("paths", {}).items():
            pattern, _, _ = compile_path(template)
            cached.append((pattern, template, {method.upper() for method in operations}))
        app.state.route_templates = cached
    return cast(list[tuple[re.Pattern[str], str, set[str]]], cached)


def route_template(scope: Scope) -> str:
    """The template of the route a request matched (`/v1/jobs/{job_id}`), or a fixed label.

    Every dashboard route is one label. A request answered before routing (a body
    refused as too large) is matched here against the app's route templates, so it is
    still counted under its route.
    """
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return m.DASHBOARD_ROUTE if is_dashboard_route(path) else path
    app = scope.get("app")
    if app is None or not hasattr(app, "openapi"):
        return m.UNMATCHED_ROUTE
    partial: str | None = None
    for pattern, template, methods in _templates(app):
        if pattern.match(scope["path"]):
            if scope["method"] in methods:
                return template
            partial = partial or template
    return partial or m.UNMATCHED_ROUTE


class RequestMetrics:
    """Counts and times every HTTP request (pure ASGI: no body is buffered)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes becomes a 500 further out

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = route_template(scope)
            method = scope["method"] if scope["method"] in METHODS else "other"
            m.API_REQUESTS.labels(route, method, str(status)).inc()
            m.API_REQUEST_DURATION.labels(route, method).observe(time.perf_counter() - started)
