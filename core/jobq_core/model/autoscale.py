"""The autoscaling policy: how many workers a queue needs, as a pure function.

Both the Kubernetes operator (``jobq_operator``) and ``jobq run``'s local mode
(``JOBQ_AUTOSCALE=1``) call :func:`decide` once per observation of the queues. It takes
the observation, the current replica count, the policy's parameters and the
:class:`History` the previous call returned, and returns a :class:`Decision`: the
replicas to run, the reason, and the next history. No clock, no I/O: the caller passes
the time.

The steps, each one named in :class:`Reason` when it is the one that set the answer:

1. **Demand.** Depth: ``ceil((ready + running) / jobs_per_worker)``, one slot for every
   job there is, which is as many workers as could ever be busy. When the mean job
   duration is known, the drain forecast lowers that to what clears the ready backlog
   within the target latency while keeping up with arrivals:
   ``ceil((max(running, arrival_rate * d) + ready * d / target) / jobs_per_worker)``.
   Ten one-second jobs and ten thousand one-millisecond jobs are then told apart.
2. **Latency.** When the oldest ready job is older than the target, the workers are
   not keeping up whatever the forecast says: at least
   ``ceil(current * age / target)`` (and one more than now), never above depth.
3. **Cooldown.** An empty queue with nothing running keeps one worker until it has
   been so for ``cooldown_s``; only then may the answer be zero.
4. **Bounds**, ``[min_replicas, max_replicas]``.
5. **Stabilization**, as the Kubernetes HPA does it: rise only to the lowest demand of
   the scale-up window, fall only to the highest demand of the scale-down window (the
   replicas found at the first call count as a demand, so a restarted scaler does not
   scale down at once). From zero replicas the scale-up window is skipped: work waits
   for nobody.
6. **Step limits**: at most ``max_step`` replicas added (removed) per ``period_s``,
   counted from the scale changes of the last period. Bounds win over step limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import StrEnum


class Reason(StrEnum):
    """Why the decision is what it is (a metric label and the status's lastScaleReason)."""

    DEPTH = "depth"
    DRAIN_FORECAST = "drain-forecast"
    LATENCY = "latency"
    SCALE_FROM_ZERO = "scale-from-zero"
    COOLDOWN = "cooldown"
    IDLE = "idle"
    MIN_REPLICAS = "min-replicas"
    MAX_REPLICAS = "max-replicas"
    STABILIZED = "stabilized"
    STEP_LIMIT = "step-limit"


@dataclass(frozen=True)
class Behavior:
    """How fast replicas may move in one direction (the HPA's `behavior.scaleUp/scaleDown`)."""

    stabilization_window_s: float = 0.0
    max_step: int = 10
    period_s: float = 15.0

    def __post_init__(self) -> None:
        if self.stabilization_window_s < 0:
            raise ValueError(f"stabilization_window_s must be >= 0, got {self.stabilization_window_s}")
        if self.max_step < 1:
            raise ValueError(f"max_step must be >= 1, got {self.max_step}")
        if self.period_s <= 0:
            raise ValueError(f"period_s must be > 0, got {self.period_s}")


@dataclass(frozen=True)
class Policy:
    """The parameters of one scaler (a WorkerScaler's spec, or the local mode's settings)."""

    max_replicas: int
    min_replicas: int = 0
    jobs_per_worker: int = 10
    target_latency_s: float = 30.0
    scale_up: Behavior = field(default_factory=lambda: Behavior(0.0, 10, 15.0))
    scale_down: Behavior = field(default_factory=lambda: Behavior(60.0, 2, 30.0))
    cooldown_s: float = 300.0

    def __post_init__(self) -> None:
        if self.min_replicas < 0:
            raise ValueError(f"min_replicas must be >= 0, got {self.min_replicas}")
        if self.max_replicas < 1:
            raise ValueError(f"max_replicas must be >= 1, got {self.max_replicas}")
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) must be <= max_replicas ({self.max_replicas})")
        if self.jobs_per_worker < 1:
            raise ValueError(f"jobs_per_worker must be >= 1, got {self.jobs_per_worker}")
        if self.target_latency_s <= 0:
            raise ValueError(f"target_latency_s must be > 0, got {self.target_latency_s}")
        if self.cooldown_s < 0:
            raise ValueError(f"cooldown_s must be >= 0, got {self.cooldown_s}")


@dataclass(frozen=True)
class Observation:
    """The queues as seen at time `at` (seconds on any clock that only moves forward).

    `ready`: jobs runnable now (queued, due, not running, queue not paused); `running`:
    jobs being run; `oldest_ready_age_s`: 0 when nothing is ready; rates in jobs per
    second; `mean_duration_s`: the recent mean run time of a job, None when unknown.
    """

    at: float
    ready: int
    running: int
    oldest_ready_age_s: float = 0.0
    arrival_rate: float = 0.0
    completion_rate: float = 0.0
    mean_duration_s: float | None = None
    scheduled: int = 0

    @property
    def empty(self) -> bool:
        """Nothing ready, running, arriving or finishing: an idle queue."""
        return self.ready == 0 and self.running == 0 and self.arrival_rate == 0 and self.completion_rate == 0


@dataclass(frozen=True)
class History:
    """What :func:`decide` remembers between calls: past demands, scale changes, idleness."""

    recommendations: tuple[tuple[float, int], ...] = ()
    changes: tuple[tuple[float, int], ...] = ()
    idle_since: float | None = None
    # The first call's time and replicas: a scaler that has just started (an operator
    # restart) knows no past demand, so it takes the replicas it found as one and does
    # not scale down before a scale-down window has passed.
    started: tuple[float, int] | None = None


@dataclass(frozen=True)
class Decision:
    """The replicas to run, why, the raw demand before bounds and limits, and the next history."""

    desired: int
    reason: Reason
    demand: int
    history: History
    message: str = ""


def demand(policy: Policy, obs: Observation, current: int) -> tuple[int, Reason, str]:
    """Steps 1 and 2: the workers the queue needs now, with the term that decided it."""
    jpw = policy.jobs_per_worker
    depth = math.ceil((obs.ready + obs.running) / jpw)
    wanted, reason = depth, Reason.DEPTH
    message = f"{obs.ready} ready + {obs.running} running at {jpw} jobs per worker"
    d = obs.mean_duration_s
    if d is not None and d > 0:
        steady = obs.arrival_rate * d  # slots that keep up with arrivals (Little's law)
        slots = max(obs.running, steady) + obs.ready * d / policy.target_latency_s
        forecast = min(math.ceil(slots / jpw - 1e-9), max(depth, math.ceil(steady / jpw - 1e-9)))
        if forecast != depth:
            wanted, reason = forecast, Reason.DRAIN_FORECAST
            message = (
                f"{obs.ready} ready drain within {policy.target_latency_s:g}s at {d:.3g}s per job"
                f" with {obs.arrival_rate:.3g}/s arriving"
            )
    if wanted == 0:
        if obs.empty:
            return 0, Reason.IDLE, "nothing ready, running, arriving or finishing"
        # Jobs come and go between two observations: someone has to run them.
        wanted, reason = 1, Reason.DEPTH
        message = f"{obs.arrival_rate:.3g}/s arriving, {obs.completion_rate:.3g}/s finishing"
    age = obs.oldest_ready_age_s
    if obs.ready > 0 and age > policy.target_latency_s:
        catch_up = min(depth, max(current + 1, math.ceil(max(current, 1) * age / policy.target_latency_s)))
        if catch_up > wanted:
            wanted, reason = catch_up, Reason.LATENCY
            message = f"oldest ready job is {age:.1f}s old, target {policy.target_latency_s:g}s"
    return wanted, reason, message


def decide(policy: Policy, obs: Observation, current: int, history: History | None = None) -> Decision:
    """The replicas to run after observing `obs` with `current` replicas running."""
    now = obs.at
    history = history or History(started=(now, current))
    wanted, reason, message = demand(policy, obs, current)

    # 3. Cooldown: zero only after the queue has been empty and idle for cooldown_s.
    idle_since = (history.idle_since if history.idle_since is not None else now) if obs.empty else None
    if wanted == 0 and idle_since is not None and now - idle_since < policy.cooldown_s and current > 0:
        wanted, reason = 1, Reason.COOLDOWN
        message = f"idle for {now - idle_since:.0f}s of the {policy.cooldown_s:g}s cooldown"

    # 4. Bounds on the recommendation.
    recommendation = min(max(wanted, policy.min_replicas), policy.max_replicas)
    if recommendation != wanted:
        reason = Reason.MIN_REPLICAS if recommendation > wanted else Reason.MAX_REPLICAS
        message = f"{message}; wanted {wanted}, bounded to {recommendation}"

    # 5. Stabilization over the recommendations of the windows.
    keep_s = max(policy.scale_up.stabilization_window_s, policy.scale_down.stabilization_window_s)
    recs = (*((t, r) for t, r in history.recommendations if now - t <= keep_s), (now, recommendation))
    up_floor = min(r for t, r in recs if now - t <= policy.scale_up.stabilization_window_s)
    down_ceiling = max(r for t, r in recs if now - t <= policy.scale_down.stabilization_window_s)
    if history.started is not None and now - history.started[0] < policy.scale_down.stabilization_window_s:
        down_ceiling = max(down_ceiling, history.started[1])
    desired = current
    if current == 0 and recommendation > 0:
        desired = recommendation  # scale from zero at once
        if reason in (Reason.DEPTH, Reason.DRAIN_FORECAST, Reason.LATENCY):
            reason = Reason.SCALE_FROM_ZERO
    elif desired < up_floor:
        desired = up_floor
    elif desired > down_ceiling:
        desired = down_ceiling
    if desired != recommendation and current != 0:
        reason = Reason.STABILIZED
        message = f"{message}; holding at {desired} within the stabilization window (recommended {recommendation})"

    # 6. Step limits per period, counted from the changes made within it.
    keep_changes_s = max(policy.scale_up.period_s, policy.scale_down.period_s)
    changes = tuple((t, delta) for t, delta in history.changes if now - t < keep_changes_s)
    if desired > current:
        added = sum(delta for t, delta in changes if delta > 0 and now - t < policy.scale_up.period_s)
        limit = max(current, current - added + policy.scale_up.max_step)
        if desired > limit:
            desired, reason = limit, Reason.STEP_LIMIT
            message = f"{message}; at most {policy.scale_up.max_step} added per {policy.scale_up.period_s:g}s"
    elif desired < current:
        removed = -sum(delta for t, delta in changes if delta < 0 and now - t < policy.scale_down.period_s)
        limit = min(current, current + removed - policy.scale_down.max_step)
        if desired < limit:
            desired, reason = limit, Reason.STEP_LIMIT
            message = f"{message}; at most {policy.scale_down.max_step} removed per {policy.scale_down.period_s:g}s"
    if current == 0 and recommendation > 0:
        desired = max(desired, 1)

    # Bounds win over everything (a lowered max applies at once).
    bounded = min(max(desired, policy.min_replicas), policy.max_replicas)
    if bounded != desired:
        reason = Reason.MIN_REPLICAS if bounded > desired else Reason.MAX_REPLICAS
        message = f"{message}; bounded to {bounded}"
        desired = bounded

    if desired != current:
        changes += ((now, desired - current),)
    next_history = replace(history, recommendations=recs, changes=changes, idle_since=idle_since)
    return Decision(desired=desired, reason=reason, demand=wanted, history=next_history, message=message)
