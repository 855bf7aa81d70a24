"""The wire format: a jobq job's dispatch as an ARQ job message, in JSON.

A message holds only a job id, the attempt it dispatches, the trace context and how
long a worker's lease on it lasts; the job itself stays in PostgreSQL. Nothing on the
wire is pickled: :func:`serialize` / :func:`deserialize` stand in for ARQ's
serializer and refuse anything that is not a jobq JSON message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from jobq_core import names
from jobq_core.errors import SerializationError
from jobq_core.model.priority import score

# How long an undelivered message may stay in Redis (a week). The dispatch relay
# re-sends anything that expired, so this only bounds memory.
MESSAGE_TTL_MS = 7 * 86_400_000
# A taken message's lease outlives its job's timeout by this much, time enough to
# claim and record the attempt; only a worker that died leaves a lease to run out
# (its job is rescued meanwhile).
LEASE_MARGIN_S = 60.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ is 3x slower, and submits build many
class Dispatch:
    """One attempt of one job, to be delivered to a worker of its queue at `run_at`."""

    job_id: str
    attempt: int
    queue: str
    run_at: datetime
    trace_context: dict[str, str] | None = None
    priority: int = 0
    timeout_s: float = 300.0


@dataclass(frozen=True)
class Message:
    """A delivered dispatch, as the worker reads it."""

    job_id: str
    attempt: int
    trace_context: dict[str, str]


@dataclass(frozen=True)
class Delivery:
    """A message a worker has leased: its ARQ id and its body, not yet parsed."""

    arq_id: str
    body: bytes

    def message(self) -> Message:
        """The jobq message in the body; SerializationError when it is not one."""
        return parse_args(deserialize(self.body).get("a") or ())


def serialize(obj: dict[str, Any]) -> bytes:
    """ARQ's job serializer, as JSON."""
    return orjson.dumps(obj)


def deserialize(data: bytes) -> dict[str, Any]:
    """ARQ's job deserializer: JSON only; pickled or malformed data is refused."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SerializationError("not JSON") from exc
    if not isinstance(obj, dict) or obj.get("f") != names.JOB_FUNCTION:
        raise SerializationError("not a jobq message")
    return obj


def parse_args(args: Sequence[Any]) -> Message:
    """The jobq message inside ARQ's argument list."""
    try:
        job_id, attempt, trace = args
        return Message(str(job_id), int(attempt), dict(trace or {}))
    except (TypeError, ValueError) as exc:
        raise SerializationError("malformed arguments") from exc


def epoch_ms(t: datetime) -> int:
    """`t` in milliseconds since the epoch, rounded up so a job is never delivered early.

    Integer arithmetic: ``int(t.timestamp() * 1000)`` can land a millisecond short.
    """
    return -((_EPOCH - t) // _ONE_MS)


def lease_ms(timeout_s: float) -> int:
    """How long a worker's lease on a message lasts, for a job that may run `timeout_s`."""
    return int((timeout_s + LEASE_MARGIN_S) * 1000)


def encode(d: Dispatch, now_ms: int) -> tuple[str, str, int, str]:
    """(queue key, ARQ id, score, body) of one dispatch, as the enqueue script reads them.

    The lease (`l`) comes first in the body: the take script reads it from there
    without decoding the JSON.
    """
    arq_id = names.arq_job_id(d.job_id, d.attempt)
    body = serialize(
        {
            "l": lease_ms(d.timeout_s),
            "t": None,
            "f": names.JOB_FUNCTION,
            "a": [d.job_id, d.attempt, d.trace_context or {}],
            "k": {},
            "et": now_ms,
        }
    )
    return names.redis_queue_key(d.queue), arq_id, score(epoch_ms(d.run_at), d.priority, now_ms), body.decode()
