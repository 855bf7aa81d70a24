"""Per-minute rollups as pure functions: which minutes to roll up, and the windows they
are read back in.

The leader rolls up each minute once it is over (plus a grace for commits still in
flight) into one row per queue; `GET /v1/stats` sums those rows into buckets. Time
comes from the caller (the database's clock), never from here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MINUTE = timedelta(minutes=1)
ROLLUP_GRACE = timedelta(seconds=5)
"""A minute is rolled up this long after it ends: an attempt's `finished_at` is its
transaction's start, so a commit in flight at the boundary still lands in the minute."""
CATCH_UP = 60
"""Most minutes rolled up in one go: after a leader change (or no leader at all) the
last hour is filled in, anything older stays a gap."""
RETENTION = timedelta(days=8)
"""How long minute rows are kept: the longest window (a week), and a day to spare."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def floor_to(moment: datetime, step: timedelta) -> datetime:
    """`moment` rounded down to a whole multiple of `step` since the Unix epoch (UTC)."""
    return _EPOCH + (moment - _EPOCH) // step * step


@dataclass(frozen=True)
class Span:
    """Whole minutes `[start, end)` to roll up."""

    start: datetime
    end: datetime

    def minutes(self) -> list[datetime]:
        """The start of each minute in the span, oldest first."""
        count = (self.end - self.start) // MINUTE
        return [self.start + i * MINUTE for i in range(count)]


def to_roll_up(
    rolled_until: datetime | None, now: datetime, *, grace: timedelta = ROLLUP_GRACE, catch_up: int = CATCH_UP
) -> Span | None:
    """The minutes that are over at `now` and not rolled up yet, at most the last `catch_up`.

    `rolled_until` is the end of the latest minute rolled up (None: none yet). None when
    there is nothing to do.
    """
    end = floor_to(now - grace, MINUTE)
    start = end - catch_up * MINUTE
    if rolled_until is not None:
        start = max(start, floor_to(rolled_until, MINUTE))
    return Span(start, end) if start < end else None


class Window(enum.StrEnum):
    """A span `GET /v1/stats` reads, each in buckets of its own length."""

    HOUR = "1h"
    DAY = "24h"
    WEEK = "7d"

    @property
    def bucket(self) -> timedelta:
        """One bucket: a minute for the hour, 15 minutes for the day, an hour for the week."""
        return {Window.HOUR: MINUTE, Window.DAY: 15 * MINUTE, Window.WEEK: 60 * MINUTE}[self]

    @property
    def length(self) -> timedelta:
        """The whole window."""
        return {Window.HOUR: timedelta(hours=1), Window.DAY: timedelta(days=1), Window.WEEK: timedelta(days=7)}[self]


def buckets(window: Window, latest_minute: datetime | None, now: datetime) -> list[datetime]:
    """The starts of the window's buckets, oldest first; the last one holds `latest_minute`.

    Buckets sit on whole multiples of their length (UTC), so every reader gets the same
    ones until the next minute is rolled up. With nothing rolled up yet the window ends
    at the last minute that is over at `now`.
    """
    anchor = latest_minute if latest_minute is not None else floor_to(now, MINUTE) - MINUTE
    last = floor_to(anchor, window.bucket)
    count = window.length // window.bucket
    return [last - (count - 1 - i) * window.bucket for i in range(count)]
