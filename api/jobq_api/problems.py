"""RFC 9457 problem details: one stable `type` per kind of error."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from jobq_core.errors import InvalidPayload, JobqError, UnavailableError, UnknownJobType
from jobq_core.names import PROBLEM_TYPE_BASE

PROBLEM_MEDIA_TYPE = "application/problem+json"
RETRY_AFTER_S = 2


class Problem(JobqError):
    """An error the API answers with a problem document."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.errors, self.headers, self.extra = errors, headers or {}, extra

    def response(self, instance: str | None = None) -> Response:
        """The problem as an HTTP response."""
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return Response(
            orjson.dumps(body),
            status_code=self.status,
            media_type=PROBLEM_MEDIA_TYPE,
            headers=self.headers,
        )


def not_found(what: str = "job") -> Problem:
    """A 404 for a missing object."""
    return Problem(404, "not-found", "Not found", f"no {what} with this id")


def conflict(detail: str, **extra: Any) -> Problem:
    """A 409 for an action the object's state does not allow."""
    return Problem(409, "invalid-state", "Invalid state for this action", detail, **extra)


def field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    """`("body", "jobs", 3, "type")` → `jobs[3].type`; query/path/header names stay bare."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


async def on_validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's request validation errors as problems: 400 for malformed JSON, else 422."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    content_type = request.headers.get("content-type", "")
    if (
        request.method in ("POST", "PUT", "PATCH")
        and "json" not in content_type
        and any(tuple(e["loc"]) == ("body",) for e in errors)
    ):
        return Problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "send the body as JSON with 'Content-Type: application/json'",
        ).response(request.url.path)
    if any(e.get("type") == "json_invalid" for e in errors):
        return Problem(400, "malformed-json", "Malformed JSON", "the request body is not valid JSON").response(
            request.url.path
        )
    fields = [{"field": field_name(e["loc"]), "message": e["msg"]} for e in errors]
    detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return Problem(422, "validation", "Invalid request", detail, errors=fields).response(request.url.path)


async def on_problem(request: Request, exc: Exception) -> Response:
    """Our own problems."""
    assert isinstance(exc, Problem)
    return exc.response(request.url.path)


async def on_invalid_payload(request: Request, exc: Exception) -> Response:
    """A payload the job type's schema rejects: 422 naming each field."""
    assert isinstance(exc, InvalidPayload)
    return Problem(
        422, "invalid-payload", "Payload does not match the job type's schema", exc.detail, errors=exc.errors
    ).response(request.url.path)


async def on_unknown_type(request: Request, exc: Exception) -> Response:
    """A job type no worker has registered: 422 naming the `type` field."""
    assert isinstance(exc, UnknownJobType)
    name = exc.name
    return Problem(
        422,
        "unknown-job-type",
        "Unknown job type",
        f"no worker has registered job type {name!r}",
        errors=[{"field": exc.field, "message": f"unknown job type {name!r}"}],
    ).response(request.url.path)


async def on_unavailable(request: Request, exc: Exception) -> Response:
    """PostgreSQL or Redis down: 503 with Retry-After, never a 500."""
    assert isinstance(exc, UnavailableError)
    return Problem(
        503,
        "unavailable",
        "Service unavailable",
        exc.message,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    ).response(request.url.path)


async def on_http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (unknown route, wrong method) as problems."""
    assert isinstance(exc, StarletteHTTPException)
    slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    detail = f"{exc.detail}: {request.method} {request.url.path}"
    # Keep Starlette's headers: a 405 must say which methods are allowed.
    headers = dict(exc.headers or {})
    return Problem(exc.status_code, slug, str(exc.detail), detail, headers=headers).response(request.url.path)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    """A bug: 500 without a traceback (the log has it)."""
    return Problem(500, "internal", "Internal error", "see the API's log").response(request.url.path)
