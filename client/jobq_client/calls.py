"""One HTTP call as plain data, and what its answer means: the layer both clients share.

An operation (jobq_client.operations) yields `Call`s; a client sends each with its own
transport, sync or async, following `Attempts` for retries, and hands `finish`'s result
back. Nothing here does I/O.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
import pydantic

from .config import Config
from .errors import ApiError, ConnectionFailed, JobqError, Timeout, UnexpectedResponse, api_error
from .retry import delay_s, parse_retry_after, should_retry

log = logging.getLogger("jobq_client")

R = TypeVar("R")
M = TypeVar("M", bound=pydantic.BaseModel)

# Failures that happen before a request leaves: sending it again cannot do it twice.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Failures no retry mends.
FINAL = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.DecodingError, httpx.TooManyRedirects)


@dataclass(frozen=True)
class Read(Generic[M]):
    """How to read a success: the body as `model`, then its `member` if one is named; no body when `model` is None."""

    model: type[M] | None
    member: str | None = None

    def __call__(self, response: httpx.Response) -> Any:
        if self.model is None:
            return None
        body = self.model.model_validate_json(response.content)
        return getattr(body, self.member) if self.member else body


@dataclass(frozen=True)
class Call:
    """A request to make and how to read its answer.

    `safe`: the request may be sent again after it may have reached the API (a read, or a
    submit with an idempotency key); any request is sent again after a 503 or a 429.
    """

    method: str
    path: str
    read: Read[Any]
    params: tuple[tuple[str, str], ...] = ()
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    safe: bool = False

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


class Attempts:
    """The sends of one call so far, and whether another is due."""

    def __init__(self, call: Call, config: Config, clock: Callable[[], float] = time.monotonic) -> None:
        self.call, self.config, self.clock = call, config, clock
        self.count = 0
        self.started = clock()

    def retry_in(self, outcome: httpx.Response | httpx.TransportError) -> float | None:
        """Seconds to wait before sending the call again, or None: `finish` the outcome as it is."""
        self.count += 1
        policy = self.config.retry
        if isinstance(outcome, httpx.Response):
            status: int | None = outcome.status_code
            if outcome.is_success or (outcome.status_code < 500 and outcome.status_code != 429):
                return None
            retry_after = parse_retry_after(outcome.headers.get("Retry-After"))
            what = f"answered {status}"
        elif isinstance(outcome, FINAL):
            return None
        else:
            status, retry_after, what = None, None, type(outcome).__name__
        delay = delay_s(policy, self.count, retry_after)
        elapsed = self.clock() - self.started
        sent = not isinstance(outcome, NOT_SENT)
        if not should_retry(policy, self.count, elapsed, delay, status=status, sent=sent, safe=self.call.safe):
            return None
        log.warning(
            "%s %s; trying again in %.2f s (attempt %d of at most %d)",
            self.call,
            what,
            delay,
            self.count + 1,
            policy.attempts,
        )
        return delay


def finish(call: Call, outcome: httpx.Response | httpx.TransportError, config: Config) -> Any:
    """The call's result from its last outcome; the matching `JobqError` for a failure."""
    redact = config.api_key.redact
    if isinstance(outcome, httpx.TransportError):
        raise transport_error(call, outcome, config) from outcome
    if outcome.is_success:
        try:
            return call.read(outcome)
        except (pydantic.ValidationError, ValueError) as exc:
            raise UnexpectedResponse(redact(f"{call} answered {outcome.status_code} with {exc}")) from None
    if outcome.is_redirect:  # not followed: a POST must not turn into a GET somewhere else
        where = outcome.headers.get("Location", "elsewhere")
        raise UnexpectedResponse(redact(f"{call} was redirected to {where}: is {config.base_url} the API's URL?"))
    raise error_from(call, outcome, redact)


def error_from(call: Call, response: httpx.Response, redact: Callable[[str], str]) -> ApiError:
    """The exception for an error answer, from its problem document (or what there is instead)."""
    problem: Any = None
    if "json" in response.headers.get("Content-Type", ""):
        try:
            problem = response.json()
        except ValueError:
            problem = None
    if not isinstance(problem, dict):
        # Not the API's problem document: a proxy's page, say. Its first words will do.
        text = " ".join(response.text.split())[:200] if response.text else ""
        problem = {"title": response.reason_phrase, "detail": text or response.reason_phrase}
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    return api_error(call.method, call.path, response.status_code, problem, retry_after=retry_after, redact=redact)


def transport_error(call: Call, exc: httpx.TransportError, config: Config) -> JobqError:
    """A failure with no answer: `Timeout`, or `ConnectionFailed` naming the URL (never the key)."""
    where = f"{call} at {config.base_url}"
    if isinstance(exc, httpx.TimeoutException):
        return Timeout(config.api_key.redact(f"{where}: no answer in {config.timeout_s:g} s ({type(exc).__name__})"))
    reason = str(exc) or type(exc).__name__
    return ConnectionFailed(config.api_key.redact(f"{where}: {reason}"))
