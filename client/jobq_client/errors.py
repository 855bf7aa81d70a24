"""The client's exception tree. Each exception's docstring is its message.

Errors the API answers are built from its RFC 9457 problem documents: the HTTP status
picks the class, and the document's `type`, `title`, `detail` and `errors` (the
offending fields) become attributes. No message ever carries the API key.

    JobqError
    ├── ConfigurationError      no API key, or a key that cannot be sent
    ├── ConnectionFailed        the API could not be reached
    ├── Timeout                 the API did not answer in time
    │   └── WaitTimeout         wait(): the job did not finish in time
    ├── UnexpectedResponse      an answer this client cannot read
    └── ApiError                the API answered with an error
        ├── BadRequest          400, 413, 415 and other 4xx
        │   └── ValidationError 422, with `.fields`
        ├── Unauthorized        401
        ├── Forbidden           403
        ├── NotFound            404
        ├── Conflict            409
        ├── RateLimited         429
        ├── Unavailable         503
        └── ServerError         500 and other 5xx
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .names import PROBLEM_TYPE_BASE


class JobqError(Exception):
    """The jobq client failed."""

    submitted: tuple[Any, ...] = ()
    """The jobs `submit_batch` stored before it failed (its earlier chunks); empty otherwise."""

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The docstring's first line, plus the detail when there is one."""
        base = (type(self).__doc__ or "").strip().splitlines()[0]
        return f"{base.rstrip('.')}: {self.detail}" if self.detail else base


class ConfigurationError(JobqError):
    """The client is not configured."""


class ConnectionFailed(JobqError):
    """Could not reach the jobq API."""


class Timeout(JobqError):
    """The jobq API did not answer in time."""


class WaitTimeout(Timeout):
    """The job did not finish in time."""

    def __init__(self, detail: str, job: Any = None) -> None:
        self.job = job
        """The job as last read (a `JobOut`), or None when it was never read."""
        super().__init__(detail)


class UnexpectedResponse(JobqError):
    """The API's answer is not what this client expects."""


@dataclass(frozen=True)
class FieldError:
    """One offending field of a request, as the API names it (`payload.seconds`, `jobs[3].type`)."""

    name: str
    message: str


class ApiError(JobqError):
    """The jobq API refused the request."""

    def __init__(
        self,
        method: str,
        path: str,
        status: int,
        problem: Mapping[str, Any],
        *,
        retry_after: float | None = None,
    ) -> None:
        self.method, self.path, self.status = method, path, status
        self.problem: dict[str, Any] = dict(problem)
        """The whole problem document, extra members (`job_status`) included."""
        self.type: str = str(problem.get("type") or "about:blank")
        self.title: str = str(problem.get("title") or "")
        self.fields: list[FieldError] = [
            FieldError(str(e.get("field", "")), str(e.get("message", "")))
            for e in problem.get("errors") or []
            if isinstance(e, Mapping)
        ]
        self.retry_after = retry_after
        """Seconds the API asked to wait before trying again (`Retry-After`), when it said."""
        detail = str(problem.get("detail") or self.title or "no detail")
        unnamed = [f"{f.name}: {f.message}" for f in self.fields if f.name not in detail]
        if unnamed:
            detail += f" ({'; '.join(unnamed)})"
        super().__init__(f"{method} {path} answered {status}: {detail}")

    @property
    def slug(self) -> str:
        """The problem type's last part (`not-found`, `invalid-payload`): stable, for code to test."""
        return self.type.removeprefix(PROBLEM_TYPE_BASE)


class BadRequest(ApiError):
    """The jobq API refused the request as malformed."""


class ValidationError(BadRequest):
    """The jobq API rejected fields of the request."""


class Unauthorized(ApiError):
    """The API key is missing, unknown or revoked."""


class Forbidden(ApiError):
    """The API key lacks the scope this needs."""


class NotFound(ApiError):
    """No such object."""


class Conflict(ApiError):
    """The object's state does not allow this."""


class RateLimited(ApiError):
    """Too many requests; try again later."""


class Unavailable(ApiError):
    """The jobq API is unavailable; try again later."""


class ServerError(ApiError):
    """The jobq API failed."""


_BY_STATUS: dict[int, type[ApiError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: ValidationError,
    429: RateLimited,
    503: Unavailable,
}


def api_error(
    method: str,
    path: str,
    status: int,
    problem: Mapping[str, Any],
    *,
    retry_after: float | None = None,
    redact: Callable[[str], str] = str,
) -> ApiError:
    """The exception for an error answer: its class from the status, its text redacted."""
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else BadRequest)
    return cls(method, path, status, _redacted(problem, redact), retry_after=retry_after)


def _redacted(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {redact(str(k)): _redacted(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, redact) for v in value]
    return value
