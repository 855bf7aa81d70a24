"""What one WorkerScaler's loop writes to PostgreSQL for the dashboard (`GET /v1/scalers`).

Every loop folds a sample into its minute's row (paused scalers too); a loop that changed
the replicas writes a decision row, and so does a loop that held them for a limiting
reason (bounds, stabilization, step limits) it had not held them for since the last
change, at most once a minute. Rows past retention are pruned at most once an hour per
scaler (every scaler's, so those of deleted WorkerScalers go too).

Recording is a side line: a failure is counted (``jobq_operator_record_errors_total``)
and logged once per outage, and scaling goes on.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import asyncpg

from jobq_core.model.autoscale import Decision, Reason
from jobq_core.pg import scalers
from jobq_core.pg.queue_state import QueueState

from . import metrics

log = logging.getLogger("jobq.operator")

LIMITING = frozenset({Reason.MAX_REPLICAS, Reason.MIN_REPLICAS, Reason.STEP_LIMIT, Reason.STABILIZED})
"""Reasons that mean the policy kept the replicas from following the demand."""
HOLD_ROWS_EVERY_S = 60.0
"""At most one hold row per this many seconds, however the limiting reason flips."""
PRUNE_EVERY_S = 3600.0
"""How often one scaler prunes the rows past retention."""
RECORD_TIMEOUT_S = 5.0
"""How long one loop's records may take before they count as failed."""


@dataclass
class Holds:
    """Which holds get a decision row: the first for each limiting reason since the last change."""

    reason: Reason | None = None
    at: float | None = None

    def worth_a_row(self, reason: Reason, now: float) -> bool:
        """Whether a loop that held the replicas for `reason` at `now` writes a row (remembered if so)."""
        if reason not in LIMITING or reason == self.reason:
            return False
        if self.at is not None and now - self.at < HOLD_ROWS_EVERY_S:
            return False
        self.reason, self.at = reason, now
        return True

    def changed(self) -> None:
        """The replicas changed: the next limiting reason is news again."""
        self.reason = self.at = None


@dataclass
class Recorder:
    """One WorkerScaler's records, and whether writing them is failing."""

    namespace: str
    name: str
    holds: Holds = field(default_factory=Holds)
    pruned_at: float | None = None
    failing: bool = False

    async def loop(
        self,
        pool: asyncpg.Pool,
        *,
        current: int,
        decision: Decision,
        state: QueueState,
        scaled: bool,
        held: bool,
        now: float,
    ) -> None:
        """Record one loop that found `current` replicas and decided `decision`.

        `scaled`: the loop changed the replicas to ``decision.desired``; `held`: it left
        them as the policy wanted (not scaled, not paused). `now` is a monotonic clock.
        """
        ids = (self.namespace, self.name)
        try:
            async with asyncio.timeout(RECORD_TIMEOUT_S):
                if scaled:
                    self.holds.changed()
                if scaled or (held and self.holds.worth_a_row(decision.reason, now)):
                    await scalers.record_decision(
                        pool,
                        *ids,
                        from_replicas=current,
                        to_replicas=decision.desired,
                        reason=decision.reason.value,
                        message=decision.message,
                    )
                await scalers.record_sample(
                    pool,
                    *ids,
                    current=current,
                    desired=decision.desired,
                    ready=state.ready,
                    oldest_ready_age_s=state.oldest_ready_age_s,
                )
                if self.pruned_at is None or now - self.pruned_at >= PRUNE_EVERY_S:
                    await scalers.prune(pool)
                    self.pruned_at = now
        except Exception as exc:  # never fails the loop: scaling matters more than its record
            metrics.RECORD_ERRORS.labels(*ids).inc()
            if not self.failing:
                self.failing = True
                log.warning(
                    "WorkerScaler %s/%s: the dashboard's records are not written (%s: %s); scaling goes on",
                    *ids,
                    type(exc).__name__,
                    exc,
                )
            return
        if self.failing:
            self.failing = False
            log.info("WorkerScaler %s/%s: the dashboard's records are written again", *ids)
