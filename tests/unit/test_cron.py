"""Cron expressions and slot planning: validation, time zones, the missed-slot policies."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from jobq_core.model import cron
from jobq_core.model.cron import MISFIRE_GRACE, Missed, next_slot, plan

PARIS = "Europe/Paris"
SECOND = timedelta(seconds=1)
TICK = timedelta(microseconds=1)


def utc(text: str) -> datetime:
    """An aware UTC datetime from `2026-03-29T07:00:00`."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def seconds(first: datetime, count: int, step: timedelta = SECOND) -> list[datetime]:
    """`count` instants `step` apart from `first`."""
    return [first + i * step for i in range(count)]


# --- validate ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    ["* * * * *", "*/5 * * * *", "0 9 * * mon-fri", "0 0 1 1 *", "* * * * * *", "*/5 * * * * *", "30 0 12 * * *"],
)
def test_five_and_six_field_expressions_are_valid(expression: str) -> None:
    cron.validate(expression, "UTC")
    cron.validate(expression, PARIS)


def test_a_six_field_expression_reads_seconds_first() -> None:
    assert next_slot("30 0 12 * * *", "UTC", utc("2026-01-01T00:00:00")) == utc("2026-01-01T12:00:30")
    assert next_slot("*/5 * * * * *", "UTC", utc("2026-01-01T00:00:01")) == utc("2026-01-01T00:00:05")


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "needs 5 fields"),
        ("* * *", "needs 5 fields"),
        ("* * * * * * *", "needs 5 fields"),
        ("@daily", "needs 5 fields"),
        ("61 * * * *", "not a valid cron expression"),
        ("60 * * * * *", "not a valid cron expression"),
        ("* 25 * * *", "not a valid cron expression"),
        ("* * * * funday", "not a valid cron expression"),
        ("every minute of the day", "not a valid cron expression"),
        ("0 0 31 4 *", "never"),  # April has no 31st: a schedule that could never fire
        ("0 R * * *", "random"),  # croniter would draw another hour at each plan
        ("0 9 R(1-5) * *", "random"),
        ("0 9 * * r", "random"),
    ],
)
def test_a_bad_expression_is_rejected_with_a_message(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cron.validate(expression, "UTC")


@pytest.mark.parametrize("timezone", ["Mars/Olympus_Mons", "Europe/Pariss", "", "../../etc/passwd", "CEST+2"])
def test_an_unknown_time_zone_is_rejected_with_a_message(timezone: str) -> None:
    with pytest.raises(ValueError, match="is not an IANA time zone"):
        cron.validate("* * * * *", timezone)


# --- next_slot ---------------------------------------------------------------------


def test_the_next_slot_is_strictly_after_the_given_moment() -> None:
    assert next_slot("0 9 * * *", "UTC", utc("2026-05-01T09:00:00")) == utc("2026-05-02T09:00:00")
    assert next_slot("0 9 * * *", "UTC", utc("2026-05-01T08:59:59.999999")) == utc("2026-05-01T09:00:00")
    assert next_slot("* * * * * *", "UTC", utc("2026-05-01T09:00:00.5")) == utc("2026-05-01T09:00:01")


def test_a_local_time_stays_local_across_the_spring_change() -> None:
    """Paris moves from UTC+1 to UTC+2 on 2026-03-29: 09:00 local is 08:00 UTC, then 07:00."""
    first = next_slot("0 9 * * *", PARIS, utc("2026-03-27T12:00:00"))
    second = next_slot("0 9 * * *", PARIS, first)
    third = next_slot("0 9 * * *", PARIS, second)
    assert [first, second, third] == [
        utc("2026-03-28T08:00:00"),
        utc("2026-03-29T07:00:00"),
        utc("2026-03-30T07:00:00"),
    ]
    assert {slot.astimezone(cron.zone(PARIS)).hour for slot in (first, second, third)} == {9}


def test_a_local_time_stays_local_across_the_autumn_change() -> None:
    """Paris moves back to UTC+1 on 2026-10-25: 09:00 local is 07:00 UTC, then 08:00."""
    first = next_slot("0 9 * * *", PARIS, utc("2026-10-24T00:00:00"))
    second = next_slot("0 9 * * *", PARIS, first)
    assert [first, second] == [utc("2026-10-24T07:00:00"), utc("2026-10-25T08:00:00")]


def test_a_slot_in_the_skipped_hour_fires_once_as_the_clocks_jump() -> None:
    """02:30 does not exist in Paris on 2026-03-29 (02:00 jumps to 03:00).

    Like cron, the daily job is neither dropped nor doubled that day: it fires once,
    when the clocks jump (03:00 local, 01:00 UTC), and at 02:30 local again the next day.
    """
    slots = [next_slot("30 2 * * *", PARIS, utc("2026-03-28T12:00:00"))]
    while len(slots) < 3:
        slots.append(next_slot("30 2 * * *", PARIS, slots[-1]))
    assert slots == [utc("2026-03-29T01:00:00"), utc("2026-03-30T00:30:00"), utc("2026-03-31T00:30:00")]


def test_slots_every_quarter_hour_stay_evenly_spaced_through_both_changes() -> None:
    for start in (utc("2026-03-28T23:00:00"), utc("2026-10-24T23:00:00")):
        slots = [next_slot("*/15 * * * *", PARIS, start)]
        while len(slots) < 20:
            slots.append(next_slot("*/15 * * * *", PARIS, slots[-1]))
        assert slots == seconds(start + timedelta(minutes=15), 20, timedelta(minutes=15))


# --- plan --------------------------------------------------------------------------


@pytest.mark.parametrize("missed", list(Missed))
def test_a_schedule_not_yet_due_fires_nothing_and_keeps_its_next_run(missed: Missed) -> None:
    now = utc("2026-05-01T12:00:00")
    planned = plan("* * * * * *", "UTC", now + TICK, now, missed)
    assert planned.fire == []
    assert planned.next_run_at == now + TICK


@pytest.mark.parametrize("missed", list(Missed))
def test_a_slot_due_exactly_now_fires(missed: Missed) -> None:
    now = utc("2026-05-01T12:00:00")
    planned = plan("* * * * * *", "UTC", now, now, missed)
    assert planned.fire == [now]
    assert planned.next_run_at == now + SECOND


@pytest.mark.parametrize("missed", list(Missed))
def test_on_time_slots_all_fire_in_order_whatever_the_policy(missed: Missed) -> None:
    """A leader that was away for less than the grace catches up on every slot."""
    now = utc("2026-05-01T12:00:00.400")
    planned = plan("* * * * * *", "UTC", utc("2026-05-01T11:59:40"), now, missed)
    assert planned.fire == seconds(utc("2026-05-01T11:59:40"), 21)
    assert planned.next_run_at == utc("2026-05-01T12:00:01")


@pytest.mark.parametrize(
    ("missed", "fired_missed"),
    [(Missed.SKIP, []), (Missed.RUN_ONCE, [utc("2026-05-01T11:59:30")])],
)
def test_slots_older_than_the_grace_follow_the_policy(missed: Missed, fired_missed: list[datetime]) -> None:
    """Every ten seconds, down for an hour: 11:00:00 to 11:59:30 were missed (a slot at
    exactly the grace's edge is missed too); 11:59:40 to 12:00:00 are on time."""
    now = utc("2026-05-01T12:00:00")
    assert now - MISFIRE_GRACE == utc("2026-05-01T11:59:30")
    planned = plan("*/10 * * * * *", "UTC", utc("2026-05-01T11:00:00"), now, missed)
    assert planned.fire == [*fired_missed, *seconds(utc("2026-05-01T11:59:40"), 3, 10 * SECOND)]
    assert planned.next_run_at == utc("2026-05-01T12:00:10")


@pytest.mark.parametrize(
    ("missed", "fire"),
    [(Missed.SKIP, []), (Missed.RUN_ONCE, [utc("2026-05-01T12:00:00")])],
)
def test_a_missed_hourly_slot_with_none_on_time(missed: Missed, fire: list[datetime]) -> None:
    now = utc("2026-05-01T12:20:00")
    planned = plan("0 * * * *", "UTC", utc("2026-05-01T09:00:00"), now, missed)
    assert planned.fire == fire
    assert planned.next_run_at == utc("2026-05-01T13:00:00")


def test_run_once_never_fires_a_slot_before_next_run_at() -> None:
    """next_run_at set by hand between two slots: the slot before it is not this plan's."""
    now = utc("2026-05-01T12:00:45")
    planned = plan("* * * * *", "UTC", utc("2026-05-01T12:00:10"), now, Missed.RUN_ONCE)
    assert planned.fire == []
    assert planned.next_run_at == utc("2026-05-01T12:01:00")


@pytest.mark.parametrize(("missed", "missed_fired"), [(Missed.SKIP, 0), (Missed.RUN_ONCE, 1)])
def test_a_day_down_with_an_every_second_cron_plans_without_walking_every_slot(
    missed: Missed, missed_fired: int
) -> None:
    """86,400 missed slots; walking them one by one takes tens of seconds."""
    now = utc("2026-05-02T12:00:00")
    started = time.perf_counter()
    planned = plan("* * * * * *", "UTC", now - timedelta(days=1), now, missed)
    elapsed = time.perf_counter() - started

    on_time = seconds(utc("2026-05-02T11:59:31"), 30)
    assert planned.fire == [utc("2026-05-02T11:59:30")] * missed_fired + on_time
    assert planned.next_run_at == utc("2026-05-02T12:00:01")
    assert elapsed < 1.0, f"planning took {elapsed:.2f}s"


# --- properties --------------------------------------------------------------------

QUARTERLY = ("*/15 * * * *", PARIS)
AT_0230 = ("30 2 * * *", PARIS)
SCHEDULES = [
    ("* * * * * *", "UTC"),
    ("*/7 * * * * *", "UTC"),
    ("* * * * *", "UTC"),
    QUARTERLY,
    AT_0230,
    ("0 9 * * *", PARIS),
    ("0 */2 * * * *", "America/New_York"),
]
moments = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))
SPRING_CHANGE = utc("2026-03-29T01:00:10")
AUTUMN_CHANGE = utc("2026-10-25T01:00:10")


def _is_slot(expression: str, timezone: str, moment: datetime) -> bool:
    return next_slot(expression, timezone, moment - TICK) == moment


@given(
    schedule=st.sampled_from(SCHEDULES),
    now=moments,
    lag=st.timedeltas(min_value=timedelta(minutes=-1), max_value=timedelta(hours=3)),
    on_a_slot=st.booleans(),
    missed=st.sampled_from(Missed),
)
@example(schedule=QUARTERLY, now=SPRING_CHANGE, lag=timedelta(hours=1), on_a_slot=True, missed=Missed.RUN_ONCE)
@example(schedule=QUARTERLY, now=AUTUMN_CHANGE, lag=timedelta(hours=2), on_a_slot=True, missed=Missed.RUN_ONCE)
@example(schedule=AT_0230, now=AUTUMN_CHANGE, lag=timedelta(hours=2), on_a_slot=False, missed=Missed.RUN_ONCE)
def test_a_plan_fires_real_slots_in_order_within_its_window_and_moves_past_now(
    schedule: tuple[str, str], now: datetime, lag: timedelta, on_a_slot: bool, missed: Missed
) -> None:
    expression, timezone = schedule
    next_run_at = now - lag
    if on_a_slot:
        next_run_at = next_slot(expression, timezone, next_run_at - TICK)
    cutoff = now - MISFIRE_GRACE

    planned = plan(expression, timezone, next_run_at, now, missed)

    assert planned.fire == sorted(set(planned.fire)), "slots strictly increasing"
    assert all(next_run_at <= slot <= now for slot in planned.fire)
    assert all(_is_slot(expression, timezone, slot) for slot in planned.fire)
    assert planned.next_run_at > now
    assert planned.next_run_at == (next_run_at if next_run_at > now else next_slot(expression, timezone, now))
    # Every on-time slot fires.
    on_time = [slot for slot in planned.fire if slot > cutoff]
    first_on_time = next_slot(expression, timezone, max(cutoff, next_run_at - TICK))
    expected = []
    while first_on_time <= now:
        expected.append(first_on_time)
        first_on_time = next_slot(expression, timezone, first_on_time)
    assert on_time == expected
    # Missed slots: none with skip; with run_once, the latest one, if there was one.
    fired_missed = [slot for slot in planned.fire if slot <= cutoff]
    if missed == Missed.SKIP or next_run_at > cutoff:
        assert fired_missed == []
    else:
        was_missed = next_slot(expression, timezone, next_run_at - TICK) <= cutoff
        assert len(fired_missed) == int(was_missed)
        if fired_missed:
            assert next_slot(expression, timezone, fired_missed[0]) > cutoff, "the latest missed slot"


@given(
    schedule=st.sampled_from(SCHEDULES[:3]),
    start=moments,
    gaps=st.lists(st.timedeltas(min_value=timedelta(0), max_value=MISFIRE_GRACE), min_size=1, max_size=20),
)
def test_a_leader_ticking_within_the_grace_fires_every_slot_exactly_once(
    schedule: tuple[str, str], start: datetime, gaps: list[timedelta]
) -> None:
    """However irregular the ticks, as long as none is later than the grace."""
    expression, timezone = schedule
    first = next_run_at = next_slot(expression, timezone, start)
    now = start
    fired: list[datetime] = []
    for gap in gaps:
        now += gap
        planned = plan(expression, timezone, next_run_at, now, Missed.SKIP)
        fired += planned.fire
        next_run_at = planned.next_run_at

    expected = []
    slot = first
    while slot <= now:
        expected.append(slot)
        slot = next_slot(expression, timezone, slot)
    assert fired == expected


# --- upcoming ----------------------------------------------------------------------


def test_the_next_runs_start_at_the_next_slot_and_stay_local_across_a_clock_change() -> None:
    """The schedule document's `next_runs`: 09:00 in Paris is 08:00 UTC, then 07:00 from 2026-03-29."""
    runs = cron.upcoming("0 9 * * *", PARIS, utc("2026-03-27T08:00:00"))
    assert len(runs) == 10
    assert runs[:4] == [
        utc("2026-03-27T08:00:00"),
        utc("2026-03-28T08:00:00"),
        utc("2026-03-29T07:00:00"),
        utc("2026-03-30T07:00:00"),
    ]
    assert {run.astimezone(cron.zone(PARIS)).hour for run in runs} == {9}
    assert all(run.tzinfo == UTC for run in runs)
