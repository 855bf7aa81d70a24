"""Recurring schedules as pure functions: validate a cron expression, plan which slots fire.

Expressions have five fields (minute precision) or six with seconds first
(``*/5 * * * * *`` is every five seconds). Slots are computed in the schedule's time
zone, so ``0 9 * * *`` in Europe/Paris stays at 09:00 across daylight-saving changes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

# A slot that fires within this long after its time is on time (a leader hand-over or
# a slow tick); one older than that was missed and follows the schedule's policy.
MISFIRE_GRACE = timedelta(seconds=30)
_EPSILON = timedelta(microseconds=1)


class Missed(enum.StrEnum):
    """What to do about slots that passed while nothing could fire them."""

    SKIP = "skip"
    """Forget them; fire again from the next slot on."""
    RUN_ONCE = "run_once"
    """Fire once for all of them (as the latest missed slot), then carry on."""


def _six_fields(expression: str) -> bool:
    return len(expression.split()) == 6


def validate(expression: str, timezone: str) -> None:
    """Raise ValueError saying what is wrong with the expression or the time zone."""
    fields = len(expression.split())
    if fields not in (5, 6):
        raise ValueError("cron needs 5 fields (minute hour day month weekday) or 6 with seconds first")
    if not croniter.is_valid(expression, second_at_beginning=_six_fields(expression)):
        raise ValueError(f"{expression!r} is not a valid cron expression")
    if any(item.upper().startswith("R") for f in expression.split() for item in f.split(",")):
        # croniter draws R anew each time it parses, so the slots would move from tick to tick.
        raise ValueError("random fields (R) are not supported: a schedule's slots must stay put")
    zone(timezone)
    try:  # valid field by field, yet no date matches: `0 0 31 4 *`
        next_slot(expression, timezone, datetime.now(UTC))
    except CroniterBadDateError:
        raise ValueError(f"{expression!r} never fires (no such date)") from None


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`, or ValueError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone") from None


def next_slot(expression: str, timezone: str, after: datetime) -> datetime:
    """The first slot strictly after `after`, in UTC."""
    local = after.astimezone(zone(timezone))
    it = croniter(expression, local, second_at_beginning=_six_fields(expression))
    result: datetime = it.get_next(datetime)
    return result.astimezone(UTC)


def upcoming(expression: str, timezone: str, next_run_at: datetime, count: int = 10) -> list[datetime]:
    """`count` fire times from `next_run_at` (the schedule's next slot) on, in UTC."""
    slots = [next_run_at.astimezone(UTC)]
    while len(slots) < count:
        slots.append(next_slot(expression, timezone, slots[-1]))
    return slots


def _last_slot_at_or_before(expression: str, timezone: str, moment: datetime) -> datetime:
    local = (moment + _EPSILON).astimezone(zone(timezone))
    it = croniter(expression, local, second_at_beginning=_six_fields(expression))
    result: datetime = it.get_prev(datetime)
    return result.astimezone(UTC)


@dataclass(frozen=True)
class Plan:
    """What a due schedule does now: the slots to fire and when it is next due."""

    fire: list[datetime]
    next_run_at: datetime


def plan(
    expression: str,
    timezone: str,
    next_run_at: datetime,
    now: datetime,
    missed: Missed,
    grace: timedelta = MISFIRE_GRACE,
) -> Plan:
    """The slots in [next_run_at, now] to fire, by the missed-slot policy.

    Slots within `grace` of `now` are on time and all fire; older ones were missed:
    `skip` drops them, `run_once` fires the latest of them once.
    """
    if next_run_at > now:
        return Plan([], next_run_at)
    cutoff = now - grace
    fire: list[datetime] = []
    start = next_run_at
    if next_run_at <= cutoff:
        if missed == Missed.RUN_ONCE:
            latest_missed = _last_slot_at_or_before(expression, timezone, cutoff)
            # next_run_at is a slot, unless set by hand: then the slot before it is not ours.
            if latest_missed >= next_run_at:
                fire.append(latest_missed)
        start = cutoff + _EPSILON
    slot = next_slot(expression, timezone, start - _EPSILON)
    while slot <= now:
        fire.append(slot)
        slot = next_slot(expression, timezone, slot)
    return Plan(fire, slot)
