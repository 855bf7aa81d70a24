"""The job state machine as plain data and pure functions.

```
scheduled ─(due)─▶ queued ─(claim)─▶ running ─▶ succeeded
    ▲                                   │
    └──────────(retry at T)─────────────┤──▶ dead   (attempts used up; retry by hand)
cancelled ◀── scheduled | queued | running (cooperative)
```

`scheduled` means "waiting for a time": a delayed job, or a failed attempt waiting for
its back-off. The SQL guards in ``pg/sql/jobs.sql`` implement exactly these edges; the
unit tests check the two agree.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class JobStatus(enum.StrEnum):
    """Where a job is in its life."""

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    CANCELLED = "cancelled"


S = JobStatus
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    S.SCHEDULED: frozenset({S.QUEUED, S.RUNNING, S.CANCELLED}),
    S.QUEUED: frozenset({S.RUNNING, S.CANCELLED}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.SCHEDULED, S.QUEUED, S.DEAD, S.CANCELLED}),
    S.SUCCEEDED: frozenset(),
    # Retrying by hand sends a dead or cancelled job back to the queue.
    S.DEAD: frozenset({S.QUEUED}),
    S.CANCELLED: frozenset({S.QUEUED}),
}

WAITING = frozenset({S.SCHEDULED, S.QUEUED})
"""States of a job that has not started its next attempt."""
FINISHED = frozenset({S.SUCCEEDED, S.DEAD, S.CANCELLED})
"""States a job rests in until someone acts on it."""
CANCELLABLE = frozenset({S.SCHEDULED, S.QUEUED})
"""States `cancel` moves straight to `cancelled` (a running job is cancelled cooperatively)."""
RETRYABLE_BY_HAND = frozenset({S.DEAD, S.CANCELLED})
"""States `retry` sends back to the queue."""


def can_transition(current: JobStatus, target: JobStatus) -> bool:
    """Whether the state machine has an edge from `current` to `target`."""
    return target in TRANSITIONS[current]


def initial_status(delay_s: float) -> JobStatus:
    """The status a new job starts in, given how far in the future it may run."""
    return S.SCHEDULED if delay_s > 0 else S.QUEUED


@dataclass(frozen=True)
class FailureOutcome:
    """What happens to a job after a failed attempt."""

    status: JobStatus
    retry_in_s: float | None
    """Seconds until the next attempt, or None when there is none."""


def after_failure(attempt: int, max_attempts: int, *, permanent: bool, retry_in_s: float) -> FailureOutcome:
    """Decide the next state after attempt number `attempt` (1-based) failed.

    A permanent failure, or one that used the last attempt, is `dead`; anything else
    waits `retry_in_s` seconds (the caller's back-off) and runs again.
    """
    if permanent or attempt >= max_attempts:
        return FailureOutcome(S.DEAD, None)
    if retry_in_s <= 0:
        return FailureOutcome(S.QUEUED, 0.0)
    return FailureOutcome(S.SCHEDULED, retry_in_s)
