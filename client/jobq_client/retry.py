"""When to send a request again, and after how long: plain functions over plain data.

A 503 or 429 is tried again for any request: the API refused it before doing anything
(a 503 is PostgreSQL or Redis away, with `Retry-After`). A failure after the request
may have reached the API — a lost connection, a read timeout, a 502 or 504 from a proxy —
is tried again only for a request that is safe to repeat: a read, or a submit carrying
an idempotency key. A connection that could not be opened is tried again for any request.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Answers that mean "not done, come back later", whatever the request.
RETRY_ANY = frozenset({429, 503})
# Answers from a proxy in front of the API: the request may have been done.
RETRY_IF_SAFE = frozenset({502, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard the client tries: at most `attempts` sends within `total_s` seconds.

    Without a `Retry-After`, the n-th wait is drawn between half and all of
    `backoff_s * 2**(n-1)` (at most `max_backoff_s`); with one, it is that many seconds
    plus up to a fifth more, so that many clients told the same do not return at once.
    A wait that would end past `total_s` is not started: the error is raised instead.
    `RetryPolicy(attempts=1)` never retries.
    """

    attempts: int = 10
    total_s: float = 30.0
    backoff_s: float = 0.25
    max_backoff_s: float = 8.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")


_jitter = random.Random()  # noqa: S311 - spreads retries; nothing secret is drawn from it


def delay_s(policy: RetryPolicy, attempt: int, retry_after_s: float | None, rand: float | None = None) -> float:
    """How long to wait after the `attempt`-th send (1 for the first) failed."""
    r = _jitter.random() if rand is None else rand
    if retry_after_s is not None:
        return retry_after_s * (1 + 0.2 * r)
    backoff = min(policy.max_backoff_s, policy.backoff_s * 2.0 ** (attempt - 1))
    return backoff * (0.5 + 0.5 * r)


def should_retry(
    policy: RetryPolicy, attempt: int, elapsed_s: float, delay: float, *, status: int | None, sent: bool, safe: bool
) -> bool:
    """Whether to send again: the failure is worth retrying and the policy has room for the wait.

    `status` is the error answer's status, or None for a failure with no answer; `sent` is
    False when the request cannot have reached the API (the connection never opened).
    """
    if status is None:
        worth_it = safe or not sent
    elif status in RETRY_ANY:
        worth_it = True
    else:
        worth_it = status in RETRY_IF_SAFE and safe
    return worth_it and attempt < policy.attempts and elapsed_s + delay <= policy.total_s


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` in seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
