"""Back-off: between a failed attempt and its retry (exponential with jitter), and between
tries to reach a server that is away."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field


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


@dataclass
class Reconnect:
    """The waits between tries while a server is away: `first_s`, doubling to `max_s`.

    One instance per loop; :meth:`reset` after a success starts again from `first_s`.
    """

    first_s: float = 0.2
    max_s: float = 5.0
    _next_s: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        self._next_s = self.first_s

    def next(self) -> float:
        """The wait before the next try."""
        wait, self._next_s = self._next_s, min(self._next_s * 2, self.max_s)
        return wait

    def reset(self) -> None:
        """Start again from `first_s`."""
        self._next_s = self.first_s
