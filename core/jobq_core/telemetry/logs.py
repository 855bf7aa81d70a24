"""Logging set-up: one JSON object per line for machines, a readable line for people.

``JOBQ_LOG_FORMAT`` picks the format: ``json``, ``text``, or ``auto`` (the default:
text when stderr is a terminal, JSON otherwise, as under Kubernetes). Inside a job,
every line carries the job's id, type, queue and attempt, whichever logger wrote it;
when a trace span is active, its trace and span ids too, so a log line leads to its
trace and back.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any, Literal

import orjson

from jobq_core.telemetry import tracing

LogFormat = Literal["auto", "json", "text"]
FORMATS: tuple[LogFormat, ...] = ("auto", "json", "text")

# The job the current task runs: its fields go on every line logged meanwhile.
_job: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("jobq_log_job", default=None)

# What every LogRecord has; anything else on a record came through `extra=` and is logged.
# (uvicorn adds `color_message`, a copy of the message with terminal colours.)
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
}


@contextlib.contextmanager
def job_scope(job_id: str, job_type: str, queue: str, attempt: int) -> Iterator[None]:
    """Tag every line logged inside the block (in this task and tasks it starts) with the job."""
    token = _job.set({"job_id": job_id, "job_type": job_type, "queue": queue, "attempt": attempt})
    try:
        yield
    finally:
        _job.reset(token)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields of `record`: the current job, `extra=` values, trace ids."""
    fields: dict[str, Any] = {}
    job = _job.get()
    if job is not None:
        fields.update(job)
    for key, value in vars(record).items():
        if key not in _RECORD_FIELDS and not key.startswith("_"):
            fields[key] = value
    ids = tracing.current_ids()
    if ids is not None:
        fields["trace_id"], fields["span_id"] = ids
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, then the fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        doc.update(_fields(record))
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
            if record.exc_info[0] is not None:
                doc["exception_type"] = record.exc_info[0].__qualname__
        elif record.exc_text:
            doc["exception"] = record.exc_text
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(doc, default=str).decode()


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message  key=value …`` for a person at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _fields(record)
        if not fields:
            return line
        first, sep, rest = line.partition("\n")  # keep a traceback below the fields
        tail = " ".join(f"{k}={v}" for k, v in fields.items())
        return f"{first}  [{tail}]{sep}{rest}"


def resolve(fmt: str, stream: IO[str]) -> Literal["json", "text"]:
    """The concrete format for `fmt` on `stream` (`auto`: text on a terminal)."""
    if fmt == "auto":
        isatty = getattr(stream, "isatty", None)
        return "text" if isatty is not None and isatty() else "json"
    if fmt not in ("json", "text"):
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    return "json" if fmt == "json" else "text"


def configure(level: str, fmt: str = "auto", stream: IO[str] | None = None) -> Literal["json", "text"]:
    """Send every log record to `stream` (stderr) in `fmt` at `level`; return the format used.

    Replaces handlers already on the root logger, so it can run again (as in tests).
    """
    stream = sys.stderr if stream is None else stream
    chosen = resolve(fmt, stream)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    return chosen
