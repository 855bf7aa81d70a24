"""The autoscaler's view: rows the operator writes through `jobq_core.pg.scalers`, read back
by `GET /v1/scalers` from the real PostgreSQL; retention; and a recorder that cannot write
never failing its loop."""

from __future__ import annotations

import logging
import socket
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from jobq_core.model.autoscale import Decision, History, Reason
from jobq_core.model.stats import MINUTE, floor_to
from jobq_core.pg import apikeys, scalers
from jobq_core.pg.apikeys import Scope
from jobq_core.pg.db import create_pool
from jobq_core.pg.queue_state import QueueState
from jobq_operator import metrics as operator_metrics
from jobq_operator.records import Recorder
from tests.integration.api_helpers import assert_problem

NS = "team-a"


async def db_now(db: asyncpg.Pool) -> datetime:
    return await scalers.clock(db)


async def get_scalers(api: httpx.AsyncClient, auth: dict[str, str], window: str = "1h") -> list[dict[str, Any]]:
    response = await api.get("/v1/scalers", params={"window": window}, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["window"] == window
    found: list[dict[str, Any]] = body["scalers"]
    return found


async def test_no_operator_recorded_is_an_empty_list(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await api.get("/v1/scalers", headers=auth)
    assert response.status_code == 200
    body = response.json()
    assert (body["window"], body["bucket_s"], body["scalers"]) == ("1h", 60, [])
    assert datetime.fromisoformat(body["end"]) - datetime.fromisoformat(body["start"]) == timedelta(hours=1)


async def test_a_minute_keeps_its_peaks_and_its_latest_loop(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    minute = floor_to(await db_now(db), MINUTE)
    # Three loops of one minute: a scale from 2 to 10, then holding at 10 with the backlog draining.
    loops = [(2, 10, 500, 12.5), (10, 10, 300, 4.0), (10, 10, 40, 0.5)]
    for second, (current, desired, ready, age) in enumerate(loops, start=1):
        await scalers.record_sample(
            db, NS, "workers", current=current, desired=desired, ready=ready, oldest_ready_age_s=age,
            at=minute + timedelta(seconds=second),
        )  # fmt: skip
    await scalers.record_decision(
        db, NS, "workers", from_replicas=2, to_replicas=10, reason="depth",
        message="500 ready + 0 running at 50 jobs per worker", at=minute + timedelta(seconds=1),
    )  # fmt: skip
    # A second scaler, paused: it wants 6 and keeps 1.
    await scalers.record_sample(
        db, NS, "emails", current=1, desired=6, ready=60, oldest_ready_age_s=3.0, at=minute + timedelta(seconds=2)
    )

    found = await get_scalers(api, auth)

    assert [(s["namespace"], s["name"]) for s in found] == [(NS, "emails"), (NS, "workers")]
    emails, workers = found
    assert (workers["current_replicas"], workers["desired_replicas"]) == (10, 10)
    assert datetime.fromisoformat(str(workers["last_seen_at"])) == minute + timedelta(seconds=3)
    assert workers["samples"] == [
        {
            "at": minute.isoformat(),
            "current_replicas": 10,
            "desired_replicas": 10,
            "ready": 500,
            "oldest_ready_age_s": 12.5,
        }
    ]
    assert workers["decisions"] == [
        {
            "at": (minute + timedelta(seconds=1)).isoformat(),
            "from_replicas": 2,
            "to_replicas": 10,
            "reason": "depth",
            "message": "500 ready + 0 running at 50 jobs per worker",
        }
    ]
    assert (emails["current_replicas"], emails["desired_replicas"], emails["decisions"]) == (1, 6, [])


async def test_the_window_picks_the_samples_and_the_scalers_in_it(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    now = await db_now(db)

    async def sample(name: str, ago: timedelta, current: int, ready: int = 0) -> datetime:
        at = now - ago
        await scalers.record_sample(
            db, NS, name, current=current, desired=current, ready=ready, oldest_ready_age_s=0.0, at=at
        )
        return at

    recent = await sample("workers", timedelta(minutes=30), 3)
    # Two samples in one quarter-hour, three hours ago: the 24h bucket keeps the higher.
    three_hours = now - timedelta(hours=3)
    quarter = floor_to(three_hours, 15 * MINUTE)
    await scalers.record_sample(
        db, NS, "workers", current=7, desired=7, ready=70, oldest_ready_age_s=1.0, at=quarter + timedelta(minutes=1)
    )
    await scalers.record_sample(
        db, NS, "workers", current=5, desired=9, ready=20, oldest_ready_age_s=9.0, at=quarter + timedelta(minutes=2)
    )
    two_days = await sample("workers", timedelta(days=2), 1)
    await sample("workers", timedelta(days=7, hours=12), 2)  # older than the week
    # A scaler last seen five hours ago (deleted since): in the day's view, not the hour's.
    gone = await sample("old-scaler", timedelta(hours=5), 4)

    hour = await get_scalers(api, auth, "1h")
    assert [s["name"] for s in hour] == ["workers"]
    assert [s["at"] for s in hour[0]["samples"]] == [floor_to(recent, MINUTE).isoformat()]

    day = await get_scalers(api, auth, "24h")
    assert [s["name"] for s in day] == ["old-scaler", "workers"]
    assert datetime.fromisoformat(str(day[0]["last_seen_at"])) == gone
    assert datetime.fromisoformat(str(day[1]["last_seen_at"])) == recent
    day_samples = day[1]["samples"]
    assert [s["at"] for s in day_samples] == [
        quarter.isoformat(),
        floor_to(recent, 15 * MINUTE).isoformat(),
    ]
    assert day_samples[0] == {
        "at": quarter.isoformat(),
        "current_replicas": 7,
        "desired_replicas": 9,
        "ready": 70,
        "oldest_ready_age_s": 9.0,
    }

    week = await get_scalers(api, auth, "7d")
    week_starts = [s["at"] for s in week[1]["samples"]]
    assert week_starts[0] == floor_to(two_days, timedelta(hours=1)).isoformat()
    assert len(week_starts) == 3  # two days, three hours and thirty minutes ago; not the 7.5 days


async def test_the_latest_twenty_decisions_whatever_the_window(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    now = await db_now(db)
    for i in range(25):  # an hour apart, the oldest a day back: older than the window
        await scalers.record_decision(
            db, NS, "workers", from_replicas=i, to_replicas=i + 1, reason="depth", message=f"step {i}",
            at=now - timedelta(hours=25 - i),
        )  # fmt: skip
    await scalers.record_sample(db, NS, "workers", current=25, desired=25, ready=0, oldest_ready_age_s=0.0)

    (workers,) = await get_scalers(api, auth, "1h")
    decisions = workers["decisions"]
    assert [d["message"] for d in decisions] == [f"step {i}" for i in range(24, 4, -1)]


async def test_retention_prunes_old_rows_and_keeps_the_latest_200_decisions_per_scaler(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    now = await db_now(db)
    for days, current in ((9, 1), (7.9, 2)):
        await scalers.record_sample(
            db, NS, "workers", current=current, desired=current, ready=0, oldest_ready_age_s=0.0,
            at=now - timedelta(days=days),
        )  # fmt: skip
    await scalers.record_sample(db, NS, "workers", current=3, desired=3, ready=0, oldest_ready_age_s=0.0)
    # 250 recent decisions for one scaler, 3 for another (one of those 8 days old).
    for i in range(250):
        await scalers.record_decision(
            db, NS, "workers", from_replicas=1, to_replicas=2, reason="depth", message=f"w{i}",
            at=now - timedelta(minutes=250 - i),
        )  # fmt: skip
    for days in (8, 1, 0.5):
        await scalers.record_decision(
            db, NS, "emails", from_replicas=2, to_replicas=1, reason="idle", message=f"e{days}",
            at=now - timedelta(days=days),
        )  # fmt: skip

    await scalers.prune(db)

    minutes = [r["minute"] for r in await db.fetch("SELECT minute FROM jobq_scaler_samples ORDER BY minute")]
    assert minutes == [floor_to(now - timedelta(days=7.9), MINUTE), floor_to(now, MINUTE)]
    kept = await db.fetch("SELECT name, message FROM jobq_scaler_decisions ORDER BY name, at")
    assert [r["message"] for r in kept if r["name"] == "workers"] == [f"w{i}" for i in range(50, 250)]
    assert [r["message"] for r in kept if r["name"] == "emails"] == ["e1", "e0.5"]
    (workers,) = await get_scalers(api, auth, "7d")
    assert [s["current_replicas"] for s in workers["samples"]] == [3]


async def test_reading_needs_the_read_scope_and_a_known_window(api: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    await scalers.record_sample(db, NS, "workers", current=1, desired=1, ready=0, oldest_ready_age_s=0.0)
    reader = {"Authorization": f"Bearer {await apikeys.create(db, 'reader', [Scope.JOBS_READ])}"}
    writer = {"Authorization": f"Bearer {await apikeys.create(db, 'writer', [Scope.JOBS_WRITE])}"}

    assert [s["name"] for s in await get_scalers(api, reader)] == ["workers"]
    assert_problem(await api.get("/v1/scalers"), 401)
    assert_problem(await api.get("/v1/scalers", headers={"Authorization": "Bearer jobq_nope"}), 401)
    assert_problem(await api.get("/v1/scalers", headers=writer), 403)
    assert_problem(await api.get("/v1/scalers", params={"window": "2h"}, headers=reader), 422, "window")


# --- the operator's recorder -------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


STATE = QueueState(
    ready=500, running=0, scheduled=0, oldest_ready_age_s=2.0, arrival_rate=0, completion_rate=0, mean_duration_s=None
)


def _decision(desired: int, reason: Reason, message: str = "") -> Decision:
    return Decision(desired=desired, reason=reason, demand=desired, history=History(), message=message)


def _record_errors(name: str) -> float:
    value = operator_metrics.REGISTRY.get_sample_value(
        "jobq_operator_record_errors_total", {"namespace": NS, "workerscaler": name}
    )
    return value or 0.0


async def test_the_recorder_writes_a_scale_and_a_new_hold_and_prunes(db: asyncpg.Pool) -> None:
    recorder = Recorder(NS, "workers")
    await db.execute(
        "INSERT INTO jobq_scaler_samples VALUES ($1, 'gone', now() - interval '9 days', 1, 1, 0, 0, 1, 1,"
        " now() - interval '9 days')",
        NS,
    )
    scale = _decision(10, Reason.SCALE_FROM_ZERO, "500 ready + 0 running at 50 jobs per worker")
    await recorder.loop(db, current=0, decision=scale, state=STATE, scaled=True, held=False, now=0.0)
    capped = _decision(10, Reason.MAX_REPLICAS, "wanted 12, bounded to 10")
    for now in (5.0, 10.0, 15.0):  # three loops held at the bound: one row
        await recorder.loop(db, current=10, decision=capped, state=STATE, scaled=False, held=True, now=now)

    rows = await db.fetch("SELECT from_replicas, to_replicas, reason, message FROM jobq_scaler_decisions ORDER BY id")
    assert [tuple(r) for r in rows] == [
        (0, 10, "scale-from-zero", "500 ready + 0 running at 50 jobs per worker"),
        (10, 10, "max-replicas", "wanted 12, bounded to 10"),
    ]
    # (The four loops may straddle a minute: peaks over the rows, the latest from the newest row.)
    peaks = await db.fetchrow(
        "SELECT max(current_replicas) AS current, max(desired_replicas) AS desired, max(ready) AS ready,"
        " (array_agg(latest_current_replicas ORDER BY minute DESC))[1] AS latest"
        " FROM jobq_scaler_samples WHERE name = 'workers'"
    )
    assert peaks is not None
    assert tuple(peaks) == (10, 10, 500, 10)
    assert await db.fetchval("SELECT count(*) FROM jobq_scaler_samples WHERE name = 'gone'") == 0  # pruned


async def test_a_recorder_that_cannot_write_counts_logs_once_and_does_not_raise(
    caplog: pytest.LogCaptureFixture, db: asyncpg.Pool
) -> None:
    down = await create_pool(f"postgresql://jobq@127.0.0.1:{_closed_port()}/jobq", size=1)
    recorder = Recorder(NS, "unreachable")
    before = _record_errors("unreachable")
    try:
        with caplog.at_level(logging.INFO, logger="jobq.operator"):
            for now in (0.0, 5.0, 10.0):
                await recorder.loop(
                    down, current=0, decision=_decision(10, Reason.DEPTH), state=STATE, scaled=True, held=False,
                    now=now,
                )  # fmt: skip
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1
            assert "records are not written (DatabaseUnavailable" in warnings[0].getMessage()
            assert _record_errors("unreachable") == before + 3

            # PostgreSQL back: written again, said once.
            await recorder.loop(
                db, current=0, decision=_decision(10, Reason.DEPTH), state=STATE, scaled=True, held=False, now=15.0
            )
        assert any("records are written again" in r.getMessage() for r in caplog.records)
        assert await db.fetchval("SELECT count(*) FROM jobq_scaler_decisions WHERE name = 'unreachable'") == 1
        assert _record_errors("unreachable") == before + 3
    finally:
        down.terminate()
