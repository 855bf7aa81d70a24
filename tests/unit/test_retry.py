"""Retry back-off: exponential growth, a cap, and jitter that never retries too early."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobq_core.model.backoff import Backoff

LOWEST = lambda: 0.0  # noqa: E731 - the jitter's smallest draw
HIGHEST = lambda: 1.0  # noqa: E731 - the jitter's largest draw (random() stays below it)

backoffs = st.builds(
    Backoff,
    base_s=st.floats(0.001, 1000, allow_nan=False),
    factor=st.floats(1, 16, allow_nan=False),
    max_s=st.floats(0.001, 1e7, allow_nan=False),
)
draws = st.floats(0, 1, exclude_max=True)


def test_the_default_back_off_doubles_from_two_seconds() -> None:
    backoff = Backoff()
    assert [backoff.delay(n, HIGHEST) for n in range(1, 6)] == [2, 4, 8, 16, 32]
    assert [backoff.delay(n, LOWEST) for n in range(1, 6)] == [1, 2, 4, 8, 16]


def test_the_default_back_off_stops_growing_at_an_hour() -> None:
    backoff = Backoff()
    assert backoff.delay(12, HIGHEST) == 3600  # 2 * 2**11 = 4096 would exceed the cap
    assert backoff.delay(13, LOWEST) == 1800


def test_jitter_uses_the_upper_half_of_the_step() -> None:
    backoff = Backoff(base_s=10, factor=3, max_s=1e6)
    assert backoff.delay(3, lambda: 0.5) == pytest.approx(67.5)  # step 90: 45 + 0.5 * 45


@given(backoff=backoffs, attempt=st.integers(1, 200), draw=draws)
def test_a_delay_lies_between_half_the_step_and_the_step(backoff: Backoff, attempt: int, draw: float) -> None:
    step = min(backoff.max_s, backoff.base_s * backoff.factor ** (attempt - 1))
    delay = backoff.delay(attempt, lambda: draw)
    assert step / 2 <= delay <= step
    assert delay <= backoff.max_s


@given(backoff=backoffs, attempt=st.integers(1, 100), draw=draws)
def test_delays_never_shrink_from_one_attempt_to_the_next(backoff: Backoff, attempt: int, draw: float) -> None:
    assert backoff.delay(attempt + 1, lambda: draw) >= backoff.delay(attempt, lambda: draw)


@given(
    base_s=st.floats(0.01, 100),
    factor=st.floats(1.1, 10),
    attempt=st.integers(1, 20),
    draw=draws,
)
def test_below_the_cap_each_attempt_waits_factor_times_longer(
    base_s: float, factor: float, attempt: int, draw: float
) -> None:
    backoff = Backoff(base_s=base_s, factor=factor, max_s=math.inf)
    ratio = backoff.delay(attempt + 1, lambda: draw) / backoff.delay(attempt, lambda: draw)
    assert ratio == pytest.approx(factor)


@pytest.mark.parametrize("attempt", [65, 1000, 10**9, 10**18, 2**200])
def test_huge_attempt_numbers_are_capped_without_overflow(attempt: int) -> None:
    backoff = Backoff(base_s=2, factor=10, max_s=600)
    assert backoff.delay(attempt, LOWEST) == 300
    assert backoff.delay(attempt, HIGHEST) == 600


@pytest.mark.parametrize("attempt", [10**4, 10**18, 2**200])
def test_a_steep_factor_does_not_overflow_either(attempt: int) -> None:
    assert Backoff(base_s=1, factor=1e6, max_s=60).delay(attempt, HIGHEST) == 60


def test_a_gentle_factor_keeps_growing_past_sixty_four_attempts() -> None:
    backoff = Backoff(base_s=1, factor=1.05, max_s=3600)
    assert backoff.delay(100, HIGHEST) == pytest.approx(1.05**99)
    assert backoff.delay(100, HIGHEST) > backoff.delay(70, HIGHEST) > backoff.delay(65, HIGHEST)


@pytest.mark.parametrize("attempt", [1, 50, 10**18])
def test_a_zero_base_retries_at_once(attempt: int) -> None:
    assert Backoff(base_s=0).delay(attempt, HIGHEST) == 0


@pytest.mark.parametrize("attempt", [0, -1, -(10**9)])
def test_attempts_are_one_based(attempt: int) -> None:
    with pytest.raises(ValueError, match="1-based"):
        Backoff().delay(attempt)


def test_the_default_jitter_spreads_retries_within_the_bounds() -> None:
    backoff = Backoff(base_s=8, factor=2, max_s=3600)
    delays = {backoff.delay(3) for _ in range(200)}
    assert all(16 <= d <= 32 for d in delays)
    assert len(delays) > 100  # jobs that failed together do not retry together
