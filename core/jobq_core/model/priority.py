"""Job priority: its bounds and where a ready job sorts in its queue."""

from __future__ import annotations

# The bounds of `priority`, enforced by the API's models and a CHECK on the column.
MIN_PRIORITY = -100
MAX_PRIORITY = 100
# One priority level is worth this much waiting time in the queue (a day).
PRIORITY_STEP_MS = 86_400_000


def score(run_at_ms: int, priority: int, now_ms: int) -> int:
    """Where a dispatch sorts in its queue's sorted set; workers take the lowest score first.

    Only due jobs are dispatched (the leader promotes delayed ones when they come due),
    so every score sits in the past: the time the job became ready, moved back one day
    per priority level above the lowest. Within a queue a higher priority runs first,
    and jobs of one priority run in the order they became ready, whether they were
    submitted now or delayed or retried. Backdating a future job instead would make it
    run early, ARQ's trap with priorities.
    """
    ready_ms = min(run_at_ms, now_ms)
    return ready_ms - (priority - MIN_PRIORITY + 1) * PRIORITY_STEP_MS
