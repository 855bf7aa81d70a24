"""The autoscaler's records in PostgreSQL: what the operator observed and decided per
WorkerScaler, read back by `GET /v1/scalers` (queries in ``sql/scalers.sql``).

The operator writes them from the database it reads the queues from, so the API shows
the autoscaler without any Kubernetes permission. A sample is one row per scaler and
minute (every number the minute's highest; the last loop's replicas kept apart for "now");
a decision is a row per change of replicas, or per new limiting reason that held them.
Rows of a deleted WorkerScaler stay until retention: the reader's ``last_seen_at`` shows
it has gone quiet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .db import Q, unavailable_as_error
from .store import Executor

SAMPLE_RETENTION = timedelta(days=8)
"""How long samples are kept: the longest window (a week), and a day to spare."""
DECISION_RETENTION = timedelta(days=7)
"""How long decisions are kept, at most :data:`DECISIONS_KEPT` per scaler."""
DECISIONS_KEPT = 200
"""The most decisions kept per scaler; older ones are pruned."""
DECISIONS_SHOWN = 20
"""The latest decisions `GET /v1/scalers` returns per scaler."""
MESSAGE_CHARS = 1024
"""A decision's message is cut to this many characters (as a Kubernetes condition's is)."""


@dataclass(frozen=True)
class Sample:
    """One bucket of a scaler's samples, each number the highest of the bucket."""

    at: datetime
    current_replicas: int
    desired_replicas: int
    ready: int
    oldest_ready_age_s: float


@dataclass(frozen=True)
class Decision:
    """A change of replicas, or a hold (``from_replicas == to_replicas``) for a new limiting reason."""

    at: datetime
    from_replicas: int
    to_replicas: int
    reason: str
    message: str


@dataclass(frozen=True)
class ScalerHistory:
    """One scaler as the dashboard shows it: its latest loop, samples over a window, latest decisions."""

    namespace: str
    name: str
    current_replicas: int
    desired_replicas: int
    last_seen_at: datetime
    samples: list[Sample]
    decisions: list[Decision]


async def record_sample(
    db: Executor,
    namespace: str,
    name: str,
    *,
    current: int,
    desired: int,
    ready: int,
    oldest_ready_age_s: float,
    at: datetime | None = None,
) -> None:
    """Fold one loop's observation into its minute's row; `at` defaults to the database's clock."""
    async with unavailable_as_error():
        await db.execute(Q["record_scaler_sample"], namespace, name, current, desired, ready, oldest_ready_age_s, at)


async def record_decision(
    db: Executor,
    namespace: str,
    name: str,
    *,
    from_replicas: int,
    to_replicas: int,
    reason: str,
    message: str,
    at: datetime | None = None,
) -> None:
    """Record that the scaler changed (or held) the replicas; `at` defaults to the database's clock."""
    async with unavailable_as_error():
        await db.execute(
            Q["record_scaler_decision"],
            namespace,
            name,
            from_replicas,
            to_replicas,
            reason,
            message[:MESSAGE_CHARS],
            at,
        )


async def prune(
    db: Executor,
    *,
    samples_for: timedelta = SAMPLE_RETENTION,
    decisions_for: timedelta = DECISION_RETENTION,
    decisions_kept: int = DECISIONS_KEPT,
) -> None:
    """Delete every scaler's samples and decisions past retention (deleted scalers' too)."""
    async with unavailable_as_error():
        await db.execute(Q["prune_scaler_samples"], samples_for.total_seconds())
        await db.execute(Q["prune_scaler_decisions"], decisions_for.total_seconds(), decisions_kept)


async def clock(db: Executor) -> datetime:
    """The database's clock, which samples are recorded on."""
    async with unavailable_as_error():
        now: datetime = await db.fetchval(Q["scalers_clock"])
    return now


async def history(
    db: Executor, start: datetime, end: datetime, bucket: timedelta, *, decisions: int = DECISIONS_SHOWN
) -> list[ScalerHistory]:
    """Every scaler with a sample in [start, end), by namespace and name: its latest loop,
    its samples in buckets of `bucket` (only those with a sample, oldest first) and its
    latest `decisions` (newest first, whatever the window)."""
    async with unavailable_as_error():
        seen = await db.fetch(Q["scalers_seen"], start, end)
        if not seen:
            return []
        sample_rows = await db.fetch(Q["scaler_samples_window"], start, end, bucket.total_seconds())
        decision_rows = await db.fetch(
            Q["scaler_decisions_latest"], [r["namespace"] for r in seen], [r["name"] for r in seen], decisions
        )
    samples: dict[tuple[str, str], list[Sample]] = {}
    for r in sample_rows:
        samples.setdefault((r["namespace"], r["name"]), []).append(
            Sample(r["at"], r["current_replicas"], r["desired_replicas"], r["ready"], r["oldest_ready_age_s"])
        )
    made: dict[tuple[str, str], list[Decision]] = {}
    for r in decision_rows:
        made.setdefault((r["namespace"], r["name"]), []).append(
            Decision(r["at"], r["from_replicas"], r["to_replicas"], r["reason"], r["message"])
        )
    return [
        ScalerHistory(
            namespace=r["namespace"],
            name=r["name"],
            current_replicas=r["current_replicas"],
            desired_replicas=r["desired_replicas"],
            last_seen_at=r["last_seen_at"],
            samples=samples.get((r["namespace"], r["name"]), []),
            decisions=made.get((r["namespace"], r["name"]), []),
        )
        for r in seen
    ]
