"""Retry back-off: exponential with jitter, as a pure function."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off: ``base * factor ** (attempt - 1)``, capped, with jitter.

    The jitter is "equal jitter": the delay is drawn uniformly from the upper half of
    the exponential step, so retries of jobs that failed together spread out but a
    retry never comes sooner than half the step.
    """

    base_s: float = 2.0
    factor: float = 2.0
    max_s: float = 3600.0

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        if attempt < 1:
            raise ValueError("attempt is 1-based")
        # As a float, factor ** n overflows for large n (long after the cap applies); a zero
        # base must stay zero rather than become 0 * inf (nan).
        try:
            growth = float(self.factor) ** (attempt - 1)
        except OverflowError:
            growth = math.inf
        step = min(self.max_s, self.base_s * growth) if self.base_s else 0.0
        return step / 2 + rand() * step / 2
