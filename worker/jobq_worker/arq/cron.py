"""An ARQ app's ``cron_jobs`` as jobq schedules declared in code.

Each :class:`arq.cron.CronJob` becomes a jobq schedule of the same name whose cron
expression fires when ARQ's ``next_cron`` would, and whose job template calls the cron
job's coroutine (registered as the jobq job type ``job.name``). The worker reconciles
them at start-up (``jobq_core.flows.declared_schedules.reconcile``); jobq's leader
then fires each slot once across all workers.

What differs from ARQ's own worker:

- jobq fires at the whole second; ARQ's ``microsecond`` offset (123456 by default) is
  dropped.
- Every slot fires once across all workers, whatever ``unique`` says: ``unique=False``
  (a job per worker per slot) is not honoured.
- A cron job's ``job_id`` (ARQ's way to share uniqueness across schedules) is not
  used: each slot's job is keyed by its schedule and slot.
- Setting both ``day`` and ``weekday`` is refused: ARQ fires when both match, cron
  (and so jobq) when either does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from arq.cron import CronJob
from arq.typing import WEEKDAYS

from jobq_core.errors import ConfigurationError
from jobq_core.flows.declared_schedules import DeclaredSchedule
from jobq_core.model import cron
from jobq_core.pg.schedules import JobTemplate

# ARQ's fields in the order of a 6-field cron expression, with the values each takes
# (ARQ's weekday counts from Monday = 0, as datetime.weekday() does).
_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day", 1, 31),
    ("month", 1, 12),
    ("weekday", 0, 6),
)
# Etc/GMT-14 (UTC+14) to Etc/GMT+12 (UTC-12): the IANA names of whole-hour offsets.
_ETC_HOURS = range(-12, 15)


def owner(queue: str) -> str:
    """Who declares an ARQ app's cron jobs (`jobq_schedules.declared_by`): ``arq:<queue>``."""
    return f"arq:{queue}"


def _weekday(value: int | str) -> int:
    if isinstance(value, str):
        try:
            return WEEKDAYS.index(value.lower())
        except ValueError:
            raise ValueError(f"weekday {value!r} is not one of {', '.join(WEEKDAYS)}") from None
    return value


def _field(name: str, low: int, high: int, value: object) -> str:
    """One ARQ field as a cron field: None → ``*``, an int → itself, a set → a sorted list."""
    if value is None:
        return "*"
    items = list(value) if isinstance(value, set | frozenset | list | tuple) else [value]
    if not items:
        raise ValueError(f"{name} is an empty set: the job would never run")
    values = set()
    for item in items:
        if name == "weekday" and isinstance(item, str):
            item = _weekday(item)
        if isinstance(item, bool) or not isinstance(item, int):
            raise ValueError(f"{name} must be None, an int or a set of ints, not {item!r}")
        if not low <= item <= high:
            raise ValueError(f"{name} {item} is outside {low}-{high}")
        values.add(item)
    if len(values) == high - low + 1:
        return "*"
    if name == "weekday":  # cron counts from Sunday = 0
        values = {(v + 1) % 7 for v in values}
    return ",".join(str(v) for v in sorted(values))


def expression(job: CronJob) -> str:
    """The 6-field jobq cron expression (seconds first) that fires when ARQ's ``next_cron`` would.

    Each field of ARQ's — None for every value, an int, or a set (a list or tuple too)
    of them; the weekday also by ARQ's names (``'mon'``, ``'tues'``, …) — becomes the
    cron field of the same values, the weekday counted from Sunday as cron does.
    ARQ's ``microsecond`` cannot be expressed: jobq fires at the whole second, so each
    run comes that fraction of a second earlier than under ARQ. Raises ValueError for
    a value ARQ would never match, or for ``day`` and ``weekday`` both set (ARQ wants
    both to match, cron either).
    """
    fields = [_field(name, low, high, getattr(job, name)) for name, low, high in _FIELDS]
    if fields[3] != "*" and fields[5] != "*":
        raise ValueError(
            "day and weekday are both set: ARQ runs when both match, cron when either does;"
            " set one of them and check the other in the function"
        )
    return " ".join(fields)


def timezone_name(tz: dt.tzinfo | None) -> str:
    """The IANA name of ARQ's ``WorkerSettings.timezone``: "UTC" for None or UTC, the key
    of a ``ZoneInfo``, ``Etc/GMT±N`` for a whole-hour fixed offset.

    Raises ValueError for a time zone without an IANA name (another fixed offset, a
    ``ZoneInfo`` read from a file), saying what to set instead.
    """
    if tz is None or tz is dt.UTC:
        return "UTC"
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)  # ZoneInfo, or pytz's zones
    if isinstance(key, str):
        cron.zone(key)
        return key
    if isinstance(tz, dt.timezone):
        offset = tz.utcoffset(None)
        hours, rest = divmod(offset, dt.timedelta(hours=1))
        if not rest and int(hours) in _ETC_HOURS:
            # POSIX signs: Etc/GMT-2 is two hours ahead of UTC.
            return "UTC" if not hours else f"Etc/GMT{-int(hours):+d}"
        raise ValueError(
            f"WorkerSettings.timezone is the fixed offset {tz}, which has no IANA name: jobq reads"
            " cron jobs in an IANA time zone; set it to one, e.g. zoneinfo.ZoneInfo('Asia/Kolkata')"
        )
    raise ValueError(
        f"WorkerSettings.timezone {tz!r} has no IANA name: jobq reads cron jobs in an IANA time zone;"
        " set it to a zoneinfo.ZoneInfo, e.g. ZoneInfo('Europe/Paris')"
    )


def declared_schedules(
    cron_jobs: Iterable[CronJob],
    *,
    queue: str,
    timezone: str,
    default_timeout_s: float,
    default_max_tries: int,
) -> list[DeclaredSchedule]:
    """The jobq schedules an ARQ app's cron jobs declare, read in `timezone` (an IANA name).

    Each job is the jobq job type ``job.name`` (ARQ's ``cron:<function>`` unless named)
    on `queue`, called with no arguments; its timeout and tries are the cron job's, or
    the app's defaults where it sets none. Raises ConfigurationError naming a cron job
    whose schedule jobq cannot express.
    """
    declared = []
    for job in cron_jobs:
        try:
            expr = expression(job)
            cron.validate(expr, timezone)
        except ValueError as exc:
            raise ConfigurationError(f"ARQ cron job {job.name!r}: {exc}") from None
        template = JobTemplate(
            type=job.name,
            payload={"args": [], "kwargs": {}},
            queue=queue,
            priority=0,
            max_attempts=default_max_tries if job.max_tries is None else job.max_tries,
            timeout_s=default_timeout_s if job.timeout_s is None else job.timeout_s,
        )
        declared.append(DeclaredSchedule(job.name, expr, timezone, template, run_at_startup=job.run_at_startup))
    return declared
