"""The autoscaling policy (jobq_core.model.autoscale): examples and properties (hypothesis).

The properties run the policy against sequences of observations, and against a small
simulated queue (jobs arrive at a rate, each takes a fixed time, every replica runs
`jobs_per_worker` at once) to check what a user sees: enough workers to meet the latency
target on a step load, no flapping on a steady one.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobq_core.model.autoscale import Behavior, Decision, History, Observation, Policy, Reason, decide


def policy(**overrides: object) -> Policy:
    fields: dict[str, object] = {
        "min_replicas": 0,
        "max_replicas": 20,
        "jobs_per_worker": 10,
        "target_latency_s": 30.0,
        "scale_up": Behavior(0, 10, 15),
        "scale_down": Behavior(60, 2, 30),
        "cooldown_s": 120,
    }
    return Policy(**{**fields, **overrides})  # type: ignore[arg-type]


# -- examples ----------------------------------------------------------------------


def test_depth_demand_for_500_jobs_at_10_per_worker_scales_from_zero_at_once() -> None:
    decision = decide(policy(), Observation(at=0, ready=500, running=0), current=0)

    assert decision.desired == 10  # step limit 10 per period
    assert decision.demand == 50
    assert decision.reason is Reason.STEP_LIMIT
    unlimited = decide(policy(scale_up=Behavior(30, 100, 15)), Observation(at=0, ready=45, running=0), current=0)
    assert (unlimited.desired, unlimited.reason) == (5, Reason.SCALE_FROM_ZERO)


def test_many_short_jobs_need_fewer_workers_than_their_depth() -> None:
    # 10,000 one-millisecond jobs drain in a second on one worker: depth would ask for 1,000.
    short = Observation(at=0, ready=10_000, running=10, arrival_rate=100, completion_rate=5000, mean_duration_s=0.001)
    slow = Observation(at=0, ready=10, running=10, arrival_rate=0.1, completion_rate=0.1, mean_duration_s=60)

    assert decide(policy(max_replicas=1000), short, current=1).demand == 2  # its 10 running + 0.33 slots
    assert decide(policy(max_replicas=1000), short, current=1).reason is Reason.DRAIN_FORECAST
    assert decide(policy(), slow, current=2).demand == 2


def test_an_old_ready_job_adds_capacity_beyond_the_forecast() -> None:
    obs = Observation(at=0, ready=200, running=20, oldest_ready_age_s=90, mean_duration_s=0.1, completion_rate=200)
    decision = decide(policy(), obs, current=2)

    assert decision.reason is Reason.LATENCY
    assert decision.demand == 6  # 2 replicas * 90 s / 30 s


def test_an_idle_queue_keeps_one_worker_through_the_cooldown_then_goes_to_zero() -> None:
    p = policy(scale_down=Behavior(0, 10, 1), cooldown_s=100)
    history: History | None = None
    current = 3
    seen = []
    for t in range(0, 200, 10):
        d = decide(p, Observation(at=t, ready=0, running=0), current, history)
        history, current = d.history, d.desired
        seen.append((t, current, d.reason))

    assert seen[0][1:] == (1, Reason.COOLDOWN)
    assert all(replicas == 1 for t, replicas, _ in seen if t < 100)
    assert all(replicas == 0 for t, replicas, _ in seen if t >= 100)
    assert seen[10][2] is Reason.IDLE


def test_work_during_the_cooldown_restarts_it() -> None:
    p = policy(scale_down=Behavior(0, 10, 1), cooldown_s=100)
    d = decide(p, Observation(at=0, ready=0, running=0), 1)
    d = decide(p, Observation(at=90, ready=0, running=1), 1, d.history)
    d = decide(p, Observation(at=150, ready=0, running=0), 1, d.history)
    assert (d.desired, d.reason) == (1, Reason.COOLDOWN)
    d = decide(p, Observation(at=250, ready=0, running=0), 1, d.history)
    assert d.desired == 0


def test_a_restarted_scaler_waits_a_scale_down_window_before_lowering_what_it_found() -> None:
    p = policy(scale_down=Behavior(60, 10, 1), cooldown_s=0)
    d = decide(p, Observation(at=1000, ready=0, running=5), current=4)
    assert d.desired == 4
    d = decide(p, Observation(at=1030, ready=0, running=5), 4, d.history)
    assert (d.desired, d.reason) == (4, Reason.STABILIZED)
    d = decide(p, Observation(at=1061, ready=0, running=5), 4, d.history)
    assert d.desired == 1


def test_bad_parameters_name_the_field() -> None:
    with pytest.raises(ValueError, match="min_replicas"):
        Policy(min_replicas=5, max_replicas=2)
    with pytest.raises(ValueError, match="jobs_per_worker"):
        Policy(max_replicas=2, jobs_per_worker=0)
    with pytest.raises(ValueError, match="max_step"):
        Behavior(max_step=0)
    with pytest.raises(ValueError, match="target_latency_s"):
        Policy(max_replicas=2, target_latency_s=0)


# -- properties over arbitrary observations ------------------------------------------

behaviors = st.builds(
    Behavior,
    stabilization_window_s=st.sampled_from([0, 5, 30, 120]),
    max_step=st.integers(1, 20),
    period_s=st.sampled_from([1, 15, 60]),
)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    high = draw(st.integers(1, 50))
    return Policy(
        min_replicas=draw(st.integers(0, high)),
        max_replicas=high,
        jobs_per_worker=draw(st.integers(1, 50)),
        target_latency_s=draw(st.floats(0.5, 600)),
        scale_up=draw(behaviors),
        scale_down=draw(behaviors),
        cooldown_s=draw(st.sampled_from([0, 10, 60, 300])),
    )


@st.composite
def observation_runs(draw: st.DrawFn) -> list[Observation]:
    steps = draw(st.lists(st.floats(0.5, 60), min_size=1, max_size=40))
    at, out = 0.0, []
    for dt in steps:
        at += dt
        empty = draw(st.booleans())
        out.append(
            Observation(
                at=at,
                ready=0 if empty else draw(st.integers(0, 5000)),
                running=0 if empty else draw(st.integers(0, 500)),
                oldest_ready_age_s=draw(st.floats(0, 3600)),
                arrival_rate=draw(st.floats(0, 1000)),
                completion_rate=draw(st.floats(0, 1000)),
                mean_duration_s=draw(st.none() | st.floats(0.001, 600)),
            )
        )
    return out


def run(p: Policy, observations: list[Observation], current: int) -> list[tuple[Observation, int, Decision]]:
    """Feed `observations` in order, applying each decision; (observation, replicas before, decision)."""
    history, trace = None, []
    for obs in observations:
        d = decide(p, obs, current, history)
        trace.append((obs, current, d))
        history, current = d.history, d.desired
    return trace


@given(policies(), observation_runs(), st.integers(0, 60))
def test_the_answer_is_always_within_bounds(p: Policy, observations: list[Observation], start: int) -> None:
    for _, _, d in run(p, observations, start):
        assert p.min_replicas <= d.desired <= p.max_replicas


@given(policies(), observation_runs(), st.integers(0, 60))
def test_never_scales_down_below_a_recommendation_of_the_window(
    p: Policy, observations: list[Observation], start: int
) -> None:
    trace = run(p, observations, min(max(start, p.min_replicas), p.max_replicas))
    for i, (obs, before, d) in enumerate(trace):
        if d.desired < before:
            window = [
                min(max(prior.demand, p.min_replicas), p.max_replicas)
                for o, _, prior in trace[: i + 1]
                if obs.at - o.at <= p.scale_down.stabilization_window_s
            ]
            assert max(window) <= d.desired, (obs.at, before, d)


@given(policies(), observation_runs(), st.integers(1, 60))
def test_goes_to_zero_only_after_the_cooldown_of_an_empty_queue(
    p: Policy, observations: list[Observation], start: int
) -> None:
    idle_since: float | None = None
    for obs, before, d in run(p, observations, start):
        idle_since = (obs.at if idle_since is None else idle_since) if obs.empty else None
        if d.desired == 0 and before > 0:
            assert idle_since is not None and obs.at - idle_since >= p.cooldown_s


@given(policies(), observation_runs(), st.integers(0, 60))
def test_steps_are_limited_per_period(p: Policy, observations: list[Observation], start: int) -> None:
    start = min(max(start, p.min_replicas), p.max_replicas)
    trace = run(p, observations, start)
    for i, (obs, _, _) in enumerate(trace):
        period = [(o, b, x) for o, b, x in trace[: i + 1] if obs.at - o.at < p.scale_up.period_s]
        added = sum(max(0, x.desired - b) for _, b, x in period)
        assert added <= max(p.scale_up.max_step, 1) or period[0][1] == 0
        period = [(o, b, x) for o, b, x in trace[: i + 1] if obs.at - o.at < p.scale_down.period_s]
        removed = sum(max(0, b - x.desired) for _, b, x in period)
        assert removed <= p.scale_down.max_step


# -- properties over a simulated queue -----------------------------------------------


@dataclass
class SimQueue:
    """Jobs arriving at `rate`/s, each taking `duration_s` on one of `replicas * jobs_per_worker` slots."""

    duration_s: float
    jobs_per_worker: int
    waiting: deque[list[float]] = field(default_factory=deque)  # [arrival time, count], oldest first
    running: float = 0.0
    carry: float = 0.0

    def step(self, now: float, dt: float, rate: float, replicas: int) -> Observation:
        """Advance by `dt` seconds with `replicas` workers; return the observation at the end."""
        self.carry += rate * dt
        arrived = int(self.carry)
        self.carry -= arrived
        if arrived:
            self.waiting.append([now, float(arrived)])
        slots = replicas * self.jobs_per_worker
        capacity = slots * dt / self.duration_s  # jobs a period can finish
        done = min(self.running + sum(c for _, c in self.waiting), capacity)
        finished = done
        take = min(self.running, finished)
        self.running -= take
        finished -= take
        while finished > 1e-9 and self.waiting:
            head = self.waiting[0]
            used = min(head[1], finished)
            head[1] -= used
            finished -= used
            if head[1] <= 1e-9:
                self.waiting.popleft()
        start = min(float(slots), sum(c for _, c in self.waiting))
        self.running = start
        left = start
        while left > 1e-9 and self.waiting:
            head = self.waiting[0]
            used = min(head[1], left)
            head[1] -= used
            left -= used
            if head[1] <= 1e-9:
                self.waiting.popleft()
        ready = sum(c for _, c in self.waiting)
        oldest = now + dt - self.waiting[0][0] if self.waiting else 0.0
        return Observation(
            at=now + dt,
            ready=math.ceil(ready - 1e-9),
            running=math.ceil(self.running - 1e-9),
            oldest_ready_age_s=oldest,
            arrival_rate=rate,
            completion_rate=done / dt,
            mean_duration_s=self.duration_s,
        )


def simulate(p: Policy, rate_at: list[float], duration_s: float, dt: float = 5.0) -> list[tuple[Observation, int]]:
    sim = SimQueue(duration_s, p.jobs_per_worker)
    replicas, history, out = 0, None, []
    for i, rate in enumerate(rate_at):
        obs = sim.step(i * dt, dt, rate, replicas)
        d = decide(p, obs, replicas, history)
        history, replicas = d.history, d.desired
        out.append((obs, replicas))
    return out


@settings(max_examples=60)
@given(
    rate=st.floats(0.5, 50),
    duration_s=st.floats(0.05, 20),
    jobs_per_worker=st.integers(1, 20),
    target=st.floats(10, 120),
)
def test_a_step_load_reaches_the_capacity_that_meets_the_latency_target(
    rate: float, duration_s: float, jobs_per_worker: int, target: float
) -> None:
    needed = math.ceil(rate * duration_s / jobs_per_worker)
    # The step limit (pods per period) sets how fast capacity can grow, not how much: a
    # step that takes ten periods to reach the need, so the ramp ends well before the
    # settled window (a fixed 10 pods per 15 s would need 12 minutes for 480 workers).
    step = max(10, math.ceil(needed / 10))
    p = policy(
        max_replicas=needed * 3 + 5,
        jobs_per_worker=jobs_per_worker,
        target_latency_s=target,
        scale_up=Behavior(0, step, 15),
    )
    trace = simulate(p, [0.0] * 4 + [rate] * 200, duration_s)

    settled = trace[-60:]  # the last five minutes of a seventeen-minute step
    assert all(replicas >= needed for _, replicas in settled), (needed, [r for _, r in trace])
    assert max(obs.oldest_ready_age_s for obs, _ in settled) <= target + 5.0


@settings(max_examples=60)
@given(rate=st.floats(0.5, 50), duration_s=st.floats(0.05, 20), jobs_per_worker=st.integers(1, 20))
def test_a_steady_load_does_not_flap(rate: float, duration_s: float, jobs_per_worker: int) -> None:
    needed = math.ceil(rate * duration_s / jobs_per_worker)
    # Steps in proportion to the size, as a user with hundreds of workers would set them.
    step = max(2, needed // 4)
    p = policy(
        max_replicas=needed * 3 + 5,
        jobs_per_worker=jobs_per_worker,
        scale_up=Behavior(0, step, 15),
        scale_down=Behavior(60, step, 30),
    )
    replicas = [r for _, r in simulate(p, [rate] * 240, duration_s)]

    # Up while the backlog builds, perhaps down once from an overshoot, then still.
    moves = [b - a for a, b in itertools.pairwise(replicas) if b != a]
    reversals = sum(1 for a, b in itertools.pairwise(moves) if (a > 0) != (b > 0))
    assert reversals <= 1, replicas
    settled = replicas[-60:]
    assert max(settled) - min(settled) <= max(1, needed // 10), replicas
    assert min(settled) >= needed, replicas
