"""What needs attention, as a pure function over what the database says.

Four kinds, each an :class:`Item` with a sentence and the numbers behind it:

- ``queue_latency``: a queue's oldest ready job has waited longer than the queue's
  target (``JOBQ_QUEUE_LATENCY_TARGET_S``, or its entry in ``JOBQ_QUEUE_LATENCY_TARGETS``).
  Paused queues are left out: their jobs wait on purpose.
- ``failures_rising``: failed (or lost) attempts per minute over the last 15 rolled-up
  minutes are more than :data:`RISE_FACTOR` times those of the 60 minutes before, and
  at least :data:`FAILURE_FLOOR` in all (a handful of failures is not a trend).
- ``type_unserved``: a registered job type that no live worker serves (has its handler
  and serves its queue).
- ``dead_growing``: a queue holds more dead jobs at the latest rolled-up minute than it
  did an hour before it.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

RECENT_MINUTES = 15
EARLIER_MINUTES = 60
FAILURE_FLOOR = 5
RISE_FACTOR = 2.0
DEAD_LOOKBACK_MINUTES = 60


class Kind(enum.StrEnum):
    """What an item is about."""

    QUEUE_LATENCY = "queue_latency"
    FAILURES_RISING = "failures_rising"
    TYPE_UNSERVED = "type_unserved"
    DEAD_GROWING = "dead_growing"


@dataclass(frozen=True)
class Item:
    """One thing to look at: its kind, where, a sentence, and the numbers behind it."""

    kind: Kind
    message: str
    queue: str | None = None
    type: str | None = None
    numbers: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueWait:
    """A queue that is not paused and has ready jobs."""

    queue: str
    ready: int
    oldest_ready_age_s: float


@dataclass(frozen=True)
class QueueTrend:
    """A queue's failures and dead jobs from the rollups, around the latest rolled-up minute.

    Minute counts say how many of the window's minutes were rolled up; dead counts are
    None when that minute was not.
    """

    queue: str
    recent_failed: int
    recent_minutes: int
    earlier_failed: int
    earlier_minutes: int
    dead_now: int | None
    dead_before: int | None


@dataclass(frozen=True)
class UnservedType:
    """A registered job type and its queue."""

    name: str
    queue: str


def parse_targets(text: str) -> dict[str, float]:
    """`emails=300,reports=3600` as {queue: seconds}; ValueError saying what is wrong."""
    targets: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        queue, sep, value = part.partition("=")
        queue = queue.strip()
        if not sep or not queue:
            raise ValueError(f"{part!r} is not queue=seconds")
        try:
            seconds = float(value)
        except ValueError:
            raise ValueError(f"{part!r}: {value.strip()!r} is not a number of seconds") from None
        if not math.isfinite(seconds) or seconds <= 0:
            raise ValueError(f"{part!r}: the target must be a positive number of seconds")
        targets[queue] = seconds
    return targets


def _plural(n: float, one: str, many: str) -> str:
    return f"{n:g} {one if n == 1 else many}"


def latency(waits: Sequence[QueueWait], default_target_s: float, targets: Mapping[str, float]) -> list[Item]:
    """Queues whose oldest ready job is older than their target."""
    items = []
    for wait in waits:
        target = targets.get(wait.queue, default_target_s)
        if wait.oldest_ready_age_s > target:
            items.append(
                Item(
                    Kind.QUEUE_LATENCY,
                    f"The oldest ready job in {wait.queue} has waited {wait.oldest_ready_age_s:.0f}s,"
                    f" over the {target:g}s target ({_plural(wait.ready, 'job', 'jobs')} ready).",
                    queue=wait.queue,
                    numbers={
                        "oldest_ready_age_s": wait.oldest_ready_age_s,
                        "target_s": target,
                        "ready": wait.ready,
                    },
                )
            )
    return items


def failures_rising(
    trends: Sequence[QueueTrend], floor: int = FAILURE_FLOOR, factor: float = RISE_FACTOR
) -> list[Item]:
    """Queues failing faster lately than before (per rolled-up minute), above the floor."""
    items = []
    for t in trends:
        if t.recent_minutes == 0 or t.recent_failed < floor:
            continue
        recent_rate = t.recent_failed / t.recent_minutes
        earlier_rate = t.earlier_failed / t.earlier_minutes if t.earlier_minutes else 0.0
        if recent_rate > factor * earlier_rate:
            items.append(
                Item(
                    Kind.FAILURES_RISING,
                    f"{t.queue}: {_plural(t.recent_failed, 'failed attempt', 'failed attempts')} in the last"
                    f" {t.recent_minutes} min ({recent_rate:.2g}/min), against {earlier_rate:.2g}/min"
                    f" over the {t.earlier_minutes} min before.",
                    queue=t.queue,
                    numbers={
                        "recent_failed": t.recent_failed,
                        "recent_minutes": t.recent_minutes,
                        "recent_per_min": recent_rate,
                        "earlier_failed": t.earlier_failed,
                        "earlier_minutes": t.earlier_minutes,
                        "earlier_per_min": earlier_rate,
                    },
                )
            )
    return items


def unserved(types: Sequence[UnservedType], alive_workers: int) -> list[Item]:
    """Job types no live worker serves."""
    return [
        Item(
            Kind.TYPE_UNSERVED,
            f"No live worker serves job type {t.name} (queue {t.queue}): its jobs wait until one starts"
            f" ({_plural(alive_workers, 'live worker', 'live workers')} in all).",
            queue=t.queue,
            type=t.name,
            numbers={"alive_workers": alive_workers},
        )
        for t in types
    ]


def dead_growing(trends: Sequence[QueueTrend]) -> list[Item]:
    """Queues with more dead jobs now than an hour before (both minutes rolled up)."""
    items = []
    for t in trends:
        if t.dead_now is None or t.dead_before is None or t.dead_now <= t.dead_before:
            continue
        growth = t.dead_now - t.dead_before
        items.append(
            Item(
                Kind.DEAD_GROWING,
                f"{t.queue} holds {_plural(t.dead_now, 'dead job', 'dead jobs')}, {growth} more than an hour before.",
                queue=t.queue,
                numbers={"dead_now": t.dead_now, "dead_hour_ago": t.dead_before, "growth": growth},
            )
        )
    return items


def assess(
    waits: Sequence[QueueWait],
    trends: Sequence[QueueTrend],
    unserved_types: Sequence[UnservedType],
    alive_workers: int,
    *,
    default_target_s: float,
    targets: Mapping[str, float],
) -> list[Item]:
    """Every item, by kind: latency, failures, unserved types, dead jobs."""
    return [
        *latency(waits, default_target_s, targets),
        *failures_rising(trends),
        *unserved(unserved_types, alive_workers),
        *dead_growing(trends),
    ]
