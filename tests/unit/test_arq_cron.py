"""ARQ cron jobs as jobq schedules: each expression fires when ARQ's own `next_cron` would."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from arq.cron import CronJob, cron, next_cron
from arq.typing import WEEKDAYS
from hypothesis import given
from hypothesis import strategies as st

from jobq_core.errors import ConfigurationError
from jobq_core.model.cron import next_slot
from jobq_core.pg.schedules import JobTemplate
from jobq_worker.arq.cron import declared_schedules, expression, timezone_name

FIRES = 20
# Moments to count from: mid-second, on a whole second, just before and after ARQ's
# default microsecond (123456), before a month's end, a leap day, the end of a year.
STARTS = [
    datetime(2026, 3, 11, 9, 59, 59, 500_000, tzinfo=UTC),
    datetime(2026, 6, 1, 0, 0, 0, tzinfo=UTC),
    datetime(2026, 6, 1, 0, 0, 0, 50_000, tzinfo=UTC),
    datetime(2026, 6, 1, 0, 0, 0, 123_456, tzinfo=UTC),
    datetime(2026, 6, 1, 0, 0, 0, 200_000, tzinfo=UTC),
    datetime(2027, 1, 30, 23, 59, 58, 999_999, tzinfo=UTC),
    datetime(2028, 2, 28, 17, 30, 0, 700_000, tzinfo=UTC),
    datetime(2029, 12, 31, 23, 59, 59, 900_000, tzinfo=UTC),
]


async def tick(ctx: dict[str, Any]) -> None:
    """A cron job's coroutine."""


def job(**fields: Any) -> CronJob:
    """A cron job on `tick` with ARQ's defaults but for `fields`."""
    return cron(tick, **fields)


def arq_fires(cron_job: CronJob, start: datetime, count: int = FIRES) -> list[datetime]:
    """ARQ's next `count` fire times from `start`, as ARQ's worker chains them, microsecond dropped."""
    fires, moment = [], start
    for _ in range(count):
        moment = next_cron(
            moment,
            month=cron_job.month,
            day=cron_job.day,
            weekday=cron_job.weekday,
            hour=cron_job.hour,
            minute=cron_job.minute,
            second=cron_job.second,
            microsecond=cron_job.microsecond,
        )
        fires.append(moment.replace(microsecond=0))
    return fires


def jobq_fires(expr: str, timezone: str, start: datetime, count: int = FIRES) -> list[datetime]:
    """jobq's next `count` slots from `start`, in `timezone`."""
    fires, moment = [], start
    zone = ZoneInfo(timezone)
    for _ in range(count):
        moment = next_slot(expr, timezone, moment)
        fires.append(moment.astimezone(zone))
    return fires


def assert_same_fires(cron_job: CronJob, starts: list[datetime], timezone: str = "UTC") -> None:
    expr = expression(cron_job)
    for start in starts:
        local = start.astimezone(ZoneInfo(timezone))
        assert jobq_fires(expr, timezone, local) == arq_fires(cron_job, local), (expr, start)


CASES: dict[str, dict[str, Any]] = {
    "ARQ's defaults: every minute at second 0": {},
    "every second": {"second": None},
    "some seconds": {"second": {0, 15, 30, 45}},
    "one second of every minute": {"second": 17},
    "every hour at minute 30": {"minute": 30},
    "minutes and seconds as sets": {"minute": {0, 20, 40}, "second": {5, 55}},
    "a time of day": {"hour": 9, "minute": 30},
    "hours as a set": {"hour": {0, 6, 12, 18}, "minute": 0},
    "first of the month": {"day": 1, "hour": 0, "minute": 0},
    "some days": {"day": {1, 15, 28}, "hour": 12, "minute": 0},
    "the 31st": {"day": 31, "hour": 3, "minute": 0},
    "the 29th (leap years in February)": {"day": 29, "hour": 0, "minute": 0},
    "a month": {"month": 7, "minute": 0},
    "months as a set": {"month": {1, 4, 7, 10}, "day": 1, "hour": 6, "minute": 0},
    "once a year": {"month": 12, "day": 25, "hour": 8, "minute": 0},
    "Monday by number": {"weekday": 0, "hour": 8, "minute": 0},
    "Sunday by number": {"weekday": 6, "hour": 23, "minute": 59, "second": 59},
    "weekdays as a set": {"weekday": {0, 1, 2, 3, 4}, "hour": 9, "minute": 0},
    "the weekend as a set": {"weekday": {5, 6}, "hour": 10, "minute": {0, 30}},
    "every weekday value is every day": {"weekday": {0, 1, 2, 3, 4, 5, 6}, "hour": 4, "minute": 0},
    "Sunday by name": {"weekday": "sun", "hour": 12, "minute": 0},
    "Monday by name, capitalised": {"weekday": "Mon", "hour": 7, "minute": 15},
    "Thursday by ARQ's name": {"weekday": "thurs", "minute": 0, "second": {0, 30}},
    "a list and a tuple": {"hour": [1, 2], "minute": (10, 50)},
    "another microsecond": {"minute": 5, "microsecond": 900_000},
    "microsecond zero": {"second": {10, 20}, "microsecond": 0},
}


@pytest.mark.parametrize("fields", CASES.values(), ids=CASES.keys())
def test_the_expression_fires_when_arq_would(fields: dict[str, Any]) -> None:
    assert_same_fires(job(**fields), STARTS)


@pytest.mark.parametrize(
    "fields",
    [{"hour": 9, "minute": 0}, {"weekday": "fri", "hour": 23, "minute": 30}, {"day": 1, "hour": 0, "minute": 0}],
)
def test_the_expression_fires_when_arq_would_in_the_apps_time_zone(fields: dict[str, Any]) -> None:
    # Kolkata keeps no daylight-saving time, where ARQ's wall-clock arithmetic and cron differ.
    assert_same_fires(job(**fields), STARTS, timezone="Asia/Kolkata")


def option(low: int, high: int) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.integers(low, high), st.sets(st.integers(low, high), min_size=1, max_size=5))


@st.composite
def cron_fields(draw: st.DrawFn) -> dict[str, Any]:
    """Any ARQ cron job jobq can express: day and weekday not both set; days that every month has."""
    fields = {
        "month": draw(option(1, 12)),
        "hour": draw(option(0, 23)),
        "minute": draw(option(0, 59)),
        "second": draw(option(0, 59)),
    }
    if draw(st.booleans()):
        fields["day"] = draw(option(1, 28))
    else:
        fields["weekday"] = draw(st.one_of(option(0, 6), st.sampled_from(WEEKDAYS)))
    return fields


@given(
    fields=cron_fields(),
    start=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)),
)
def test_any_expressible_cron_job_fires_when_arq_would(fields: dict[str, Any], start: datetime) -> None:
    assert_same_fires(job(**fields), [start])


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, "0 * * * * *"),
        ({"second": None}, "* * * * * *"),
        ({"weekday": "sun", "hour": {17, 9}, "minute": 30, "second": {30, 0}}, "0,30 30 9,17 * * 0"),
        ({"weekday": {0, 6}}, "0 * * * * 0,1"),
        ({"weekday": "sat"}, "0 * * * * 6"),
        ({"month": {12, 1}, "day": 15}, "0 * * 15 1,12 *"),
        ({"minute": set(range(60))}, "0 * * * * *"),
    ],
)
def test_each_field_becomes_a_cron_field_seconds_first_weekdays_from_sunday(
    fields: dict[str, Any], expected: str
) -> None:
    assert expression(job(**fields)) == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"day": 1, "weekday": "mon"}, "day and weekday are both set"),
        ({"minute": set()}, "minute is an empty set"),
        ({"hour": 24}, "hour 24 is outside 0-23"),
        ({"day": 0}, "day 0 is outside 1-31"),
        ({"weekday": 7}, "weekday 7 is outside 0-6"),
        ({"weekday": "tue"}, "weekday 'tue' is not one of mon, tues"),
        ({"second": True}, "second must be None, an int or a set of ints"),
    ],
)
def test_a_cron_job_jobq_cannot_express_is_refused_saying_why(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expression(job(**fields))


def test_declared_schedules_carry_the_cron_jobs_names_settings_and_the_apps_defaults() -> None:
    jobs = [
        cron(tick, minute={0, 30}, run_at_startup=True, timeout=12, max_tries=4),
        cron(tick, name="nightly", hour=3, minute=0, timeout=None, max_tries=None),
    ]

    declared = declared_schedules(
        jobs, queue="arq:queue", timezone="Europe/Paris", default_timeout_s=300, default_max_tries=5
    )

    assert [(d.name, d.expression, d.timezone, d.run_at_startup) for d in declared] == [
        ("cron:tick", "0 0,30 * * * *", "Europe/Paris", True),
        ("nightly", "0 0 3 * * *", "Europe/Paris", False),
    ]
    args = {"args": [], "kwargs": {}}
    assert [d.template for d in declared] == [
        JobTemplate(type="cron:tick", payload=args, queue="arq:queue", priority=0, max_attempts=4, timeout_s=12),
        JobTemplate(type="nightly", payload=args, queue="arq:queue", priority=0, max_attempts=5, timeout_s=300),
    ]


def test_a_cron_job_jobq_cannot_express_stops_the_start_naming_it() -> None:
    never = cron(tick, name="never", month=2, day=31)
    with pytest.raises(ConfigurationError, match=r"ARQ cron job 'never': .* never fires"):
        declared_schedules([never], queue="q", timezone="UTC", default_timeout_s=1, default_max_tries=1)
    both = cron(tick, name="both", day=1, weekday=0)
    with pytest.raises(ConfigurationError, match="ARQ cron job 'both': day and weekday"):
        declared_schedules([both], queue="q", timezone="UTC", default_timeout_s=1, default_max_tries=1)


# --- the time zone -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "name"),
    [
        (None, "UTC"),
        (UTC, "UTC"),
        (dt.timezone(timedelta(0)), "UTC"),
        (ZoneInfo("UTC"), "UTC"),
        (ZoneInfo("Europe/Paris"), "Europe/Paris"),
        (ZoneInfo("America/Argentina/Buenos_Aires"), "America/Argentina/Buenos_Aires"),
    ],
)
def test_the_time_zone_is_named_as_iana_names_it(tz: dt.tzinfo | None, name: str) -> None:
    assert timezone_name(tz) == name


@pytest.mark.parametrize("hours", [-12, -5, 1, 2, 14])
def test_a_whole_hour_offset_is_the_etc_zone_of_that_offset(hours: int) -> None:
    offset = timedelta(hours=hours)
    name = timezone_name(dt.timezone(offset))
    assert name.startswith("Etc/GMT")
    assert ZoneInfo(name).utcoffset(datetime(2026, 1, 1)) == offset


@pytest.mark.parametrize("offset", [timedelta(hours=5, minutes=30), timedelta(hours=-3, minutes=-30)])
def test_an_offset_with_no_iana_name_is_refused_saying_what_to_set(offset: timedelta) -> None:
    with pytest.raises(ValueError, match=r"fixed offset UTC[+-]\d\d:30, which has no IANA name.*ZoneInfo\("):
        timezone_name(dt.timezone(offset))


class Plus3(dt.tzinfo):
    """A tzinfo of one's own, without a name."""

    def utcoffset(self, moment: datetime | None) -> timedelta:
        return timedelta(hours=3)

    def dst(self, moment: datetime | None) -> timedelta:
        return timedelta(0)


def test_a_time_zone_without_a_name_is_refused() -> None:
    with pytest.raises(ValueError, match=r"has no IANA name.*ZoneInfo"):
        timezone_name(Plus3())
