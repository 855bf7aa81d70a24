"""What the commands' exit statuses mean, and the one-line messages errors end with."""

from __future__ import annotations

import enum

from ..errors import (
    ApiError,
    BadRequest,
    ConfigurationError,
    Conflict,
    ConnectionFailed,
    Forbidden,
    JobqError,
    NotFound,
    RateLimited,
    Timeout,
    Unauthorized,
    Unavailable,
)


class Exit(enum.IntEnum):
    """An exit status of the `jobq` commands; each one's docstring line in `MEANINGS` says when."""

    OK = 0
    JOB_FAILED = 1
    USAGE = 2
    NOT_FOUND = 3
    REFUSED = 4
    INVALID = 5
    CONFLICT = 6
    TIMED_OUT = 7
    UNAVAILABLE = 8
    API_FAILED = 9
    INTERRUPTED = 130


MEANINGS: dict[Exit, str] = {
    Exit.OK: "done (for wait and submit --wait: the job succeeded)",
    Exit.JOB_FAILED: "the job ended dead or cancelled (wait, submit --wait)",
    Exit.USAGE: "usage or configuration error (bad arguments, no API key, a file that cannot be read)",
    Exit.NOT_FOUND: "not found (no such job, or no such route on this API)",
    Exit.REFUSED: "refused: the API key is unknown or revoked (401) or lacks the scope (403)",
    Exit.INVALID: "invalid input (422, 400): each offending field is printed as `field: message`",
    Exit.CONFLICT: "conflict (409): the job's state does not allow it",
    Exit.TIMED_OUT: "timed out (--timeout passed, or the API did not answer in time)",
    Exit.UNAVAILABLE: "unavailable: the API could not be reached, or kept answering 503 or 429 past the retries",
    Exit.API_FAILED: "the API failed (500) or answered something this client cannot read",
    Exit.INTERRUPTED: "interrupted (Ctrl-C); tail ends with 0 on Ctrl-C or SIGTERM, its way to stop",
}


def epilog() -> str:
    """The exit statuses, as `jobq --help` ends."""
    lines = [f"  {int(code):>3}  {meaning}" for code, meaning in MEANINGS.items()]
    return "exit statuses of the client's commands:\n" + "\n".join(lines)


def exit_for(exc: JobqError) -> Exit:
    """The exit status a client error ends a command with."""
    if isinstance(exc, ConfigurationError):
        return Exit.USAGE
    if isinstance(exc, NotFound):
        return Exit.NOT_FOUND
    if isinstance(exc, Unauthorized | Forbidden):
        return Exit.REFUSED
    if isinstance(exc, BadRequest):
        return Exit.INVALID
    if isinstance(exc, Conflict):
        return Exit.CONFLICT
    if isinstance(exc, Timeout):
        return Exit.TIMED_OUT
    if isinstance(exc, ConnectionFailed | Unavailable | RateLimited):
        return Exit.UNAVAILABLE
    return Exit.API_FAILED


def error_lines(exc: JobqError) -> list[str]:
    """What to print for a client error: one line, then one per offending field (`field: message`)."""
    if isinstance(exc, ApiError) and exc.fields:
        # The fields say what the detail would: the headline names the request, each field a line.
        what = (type(exc).__doc__ or "").strip().splitlines()[0].rstrip(".")
        lines = [f"{what}: {exc.method} {exc.path} answered {exc.status}"]
        lines += [f"{field.name or '(request)'}: {field.message}" for field in exc.fields]
    else:
        lines = [exc.message]
    return [" ".join(line.split()) for line in lines]  # one line each, whatever the server wrote
