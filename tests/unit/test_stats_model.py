"""Per-minute rollups: which minutes the leader rolls up, and the buckets a window reads."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobq_core.model.stats import CATCH_UP, MINUTE, ROLLUP_GRACE, Window, buckets, floor_to, to_roll_up


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


NOW = utc("2031-05-06T12:34:56.789")


def test_floor_to_rounds_down_to_whole_multiples_since_the_epoch() -> None:
    assert floor_to(NOW, MINUTE) == utc("2031-05-06T12:34:00")
    assert floor_to(NOW, 15 * MINUTE) == utc("2031-05-06T12:30:00")
    assert floor_to(NOW, 60 * MINUTE) == utc("2031-05-06T12:00:00")
    assert floor_to(utc("2031-05-06T12:30:00"), 15 * MINUTE) == utc("2031-05-06T12:30:00")


def test_the_minute_that_just_ended_waits_for_the_grace() -> None:
    just_after = utc("2031-05-06T12:35:00") + ROLLUP_GRACE / 2
    span = to_roll_up(utc("2031-05-06T12:34:00"), just_after)
    assert span is None  # 12:34 is over, but a commit may still land in it
    span = to_roll_up(utc("2031-05-06T12:34:00"), just_after + ROLLUP_GRACE)
    assert span is not None
    assert span.minutes() == [utc("2031-05-06T12:34:00")]


def test_nothing_to_do_when_the_last_complete_minute_is_rolled_up() -> None:
    assert to_roll_up(utc("2031-05-06T12:34:00"), NOW) is None
    assert to_roll_up(utc("2031-05-06T12:40:00"), NOW) is None  # ahead (a test rolled up a later minute)


def test_a_new_leader_catches_up_on_the_last_hour_at_most() -> None:
    span = to_roll_up(utc("2031-05-06T09:00:00"), NOW)
    assert span is not None
    assert len(span.minutes()) == CATCH_UP
    assert span.minutes()[-1] == utc("2031-05-06T12:33:00")
    first = to_roll_up(None, NOW)
    assert first is not None
    assert first.minutes() == span.minutes()


def test_a_short_gap_is_filled_minute_by_minute() -> None:
    span = to_roll_up(utc("2031-05-06T12:30:00"), NOW)
    assert span is not None
    assert span.minutes() == [utc(f"2031-05-06T12:{m}:00") for m in (30, 31, 32, 33)]


@given(
    rolled=st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
    now=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
)
def test_only_whole_minutes_that_are_over_and_not_rolled_up_are_rolled_up(
    rolled: datetime | None, now: datetime
) -> None:
    span = to_roll_up(rolled, now)
    if span is None:
        return
    minutes = span.minutes()
    assert 1 <= len(minutes) <= CATCH_UP
    assert all(m.second == 0 and m.microsecond == 0 for m in minutes)
    assert minutes[-1] + MINUTE <= now - ROLLUP_GRACE
    if rolled is not None:
        assert minutes[0] >= floor_to(rolled, MINUTE)


@pytest.mark.parametrize(
    ("window", "count", "bucket", "first", "last"),
    [
        (Window.HOUR, 60, MINUTE, "2031-05-06T11:34:00", "2031-05-06T12:33:00"),
        (Window.DAY, 96, 15 * MINUTE, "2031-05-05T12:45:00", "2031-05-06T12:30:00"),
        (Window.WEEK, 168, 60 * MINUTE, "2031-04-29T13:00:00", "2031-05-06T12:00:00"),
    ],
)
def test_a_window_is_contiguous_aligned_buckets_ending_with_the_latest_minute(
    window: Window, count: int, bucket: timedelta, first: str, last: str
) -> None:
    starts = buckets(window, utc("2031-05-06T12:33:00"), NOW)
    assert len(starts) == count
    assert (starts[0], starts[-1]) == (utc(first), utc(last))
    assert all(b - a == bucket for a, b in itertools.pairwise(starts))
    assert window.bucket == bucket


def test_with_nothing_rolled_up_the_window_ends_with_the_last_minute_that_is_over() -> None:
    assert buckets(Window.HOUR, None, NOW)[-1] == utc("2031-05-06T12:33:00")


def test_every_reader_gets_the_same_buckets_until_the_next_minute() -> None:
    latest = utc("2031-05-06T12:33:00")
    assert buckets(Window.DAY, latest, NOW) == buckets(Window.DAY, latest, NOW + timedelta(seconds=40))
