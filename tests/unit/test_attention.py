"""What needs attention: each kind's rule, its sentence and numbers, and the per-queue targets."""

from __future__ import annotations

import os

import pytest

from jobq_api.settings import ApiSettings
from jobq_core.errors import ConfigurationError
from jobq_core.model.attention import (
    FAILURE_FLOOR,
    Kind,
    QueueTrend,
    QueueWait,
    UnservedType,
    assess,
    dead_growing,
    failures_rising,
    latency,
    parse_targets,
    unserved,
)
from jobq_core.settings import load


def trend(queue: str = "default", **fields: int | None) -> QueueTrend:
    values: dict[str, int | None] = {
        "recent_failed": 0,
        "recent_minutes": 15,
        "earlier_failed": 0,
        "earlier_minutes": 60,
        "dead_now": 0,
        "dead_before": 0,
        **fields,
    }
    return QueueTrend(queue, **values)  # type: ignore[arg-type]


def test_a_queue_waiting_past_its_target_is_named_with_its_numbers() -> None:
    waits = [QueueWait("default", 12, 90.4), QueueWait("emails", 3, 90.4), QueueWait("fast", 1, 5.0)]

    items = latency(waits, 60.0, {"emails": 300.0})

    assert [i.queue for i in items] == ["default"]
    (item,) = items
    assert item.kind is Kind.QUEUE_LATENCY
    assert item.numbers == {"oldest_ready_age_s": 90.4, "target_s": 60.0, "ready": 12}
    assert item.message == "The oldest ready job in default has waited 90s, over the 60s target (12 jobs ready)."


def test_a_per_queue_target_can_be_stricter_than_the_default() -> None:
    assert [i.queue for i in latency([QueueWait("fast", 1, 5.0)], 60.0, {"fast": 2.0})] == ["fast"]


def test_failures_rising_compares_rates_per_rolled_up_minute() -> None:
    rising = trend("a", recent_failed=30, earlier_failed=20)  # 2/min against 0.33/min
    steady = trend("b", recent_failed=30, earlier_failed=120)  # 2/min against 2/min
    (item,) = failures_rising([rising, steady])
    assert item.queue == "a"
    assert item.kind is Kind.FAILURES_RISING
    assert item.numbers["recent_per_min"] == 2.0
    assert item.numbers["earlier_per_min"] == pytest.approx(1 / 3)
    assert "30 failed attempts in the last 15 min" in item.message


def test_a_few_failures_are_not_a_trend() -> None:
    assert failures_rising([trend(recent_failed=FAILURE_FLOOR - 1)]) == []
    assert len(failures_rising([trend(recent_failed=FAILURE_FLOOR)])) == 1


def test_failures_with_no_earlier_minutes_rolled_up_count_as_rising_from_zero() -> None:
    (item,) = failures_rising([trend(recent_failed=8, recent_minutes=4, earlier_minutes=0)])
    assert item.numbers["recent_per_min"] == 2.0
    assert item.numbers["earlier_per_min"] == 0.0


def test_an_unserved_type_is_named_with_its_queue() -> None:
    (item,) = unserved([UnservedType("images.resize", "images")], alive_workers=2)
    assert (item.kind, item.type, item.queue) == (Kind.TYPE_UNSERVED, "images.resize", "images")
    assert item.numbers == {"alive_workers": 2}
    assert "images.resize" in item.message


def test_dead_jobs_growing_over_the_hour() -> None:
    items = dead_growing(
        [
            trend("a", dead_now=7, dead_before=2),
            trend("b", dead_now=2, dead_before=7),  # fewer: retried or deleted
            trend("c", dead_now=5, dead_before=None),  # the minute an hour ago was not rolled up
        ]
    )
    (item,) = items
    assert item.queue == "a"
    assert item.numbers == {"dead_now": 7, "dead_hour_ago": 2, "growth": 5}
    assert item.message == "a holds 7 dead jobs, 5 more than an hour before."


def test_assess_lists_every_kind_in_order() -> None:
    items = assess(
        [QueueWait("q", 1, 100.0)],
        [trend("q", recent_failed=10, dead_now=3, dead_before=1)],
        [UnservedType("t", "q")],
        0,
        default_target_s=60.0,
        targets={},
    )
    assert [i.kind for i in items] == [
        Kind.QUEUE_LATENCY,
        Kind.FAILURES_RISING,
        Kind.TYPE_UNSERVED,
        Kind.DEAD_GROWING,
    ]


def test_targets_parse_from_queue_equals_seconds() -> None:
    assert parse_targets("") == {}
    assert parse_targets("emails=300, reports=3600.5,") == {"emails": 300.0, "reports": 3600.5}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("emails", "is not queue=seconds"),
        ("=5", "is not queue=seconds"),
        ("emails=soon", "is not a number of seconds"),
        ("emails=0", "positive"),
        ("emails=nan", "positive"),
    ],
)
def test_a_bad_target_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_targets(text)


def test_the_api_reads_its_latency_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("JOBQ_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("JOBQ_DATABASE_URL", "postgresql://db.example/jobq")
    monkeypatch.setenv("JOBQ_REDIS_URL", "redis://redis.example/0")
    settings = load(ApiSettings)
    assert (settings.queue_latency_target_s, settings.latency_targets) == (60.0, {})

    monkeypatch.setenv("JOBQ_QUEUE_LATENCY_TARGET_S", "30")
    monkeypatch.setenv("JOBQ_QUEUE_LATENCY_TARGETS", "emails=300")
    settings = load(ApiSettings)
    assert (settings.queue_latency_target_s, settings.latency_targets) == (30.0, {"emails": 300.0})

    monkeypatch.setenv("JOBQ_QUEUE_LATENCY_TARGETS", "emails=soon")
    with pytest.raises(ConfigurationError, match="JOBQ_QUEUE_LATENCY_TARGETS"):
        load(ApiSettings)
