"""The Overview's numbers: per-minute rollups the leader computes from real finished jobs,
read back in windows by `GET /v1/stats`, and what `GET /v1/attention` points at."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from jobq_core.model.stats import MINUTE, ROLLUP_GRACE, Span, floor_to
from jobq_core.pg import apikeys
from jobq_core.pg import stats as pg_stats
from jobq_core.pg.apikeys import Scope
from jobq_core.pg.db import Q
from jobq_worker.duties import Duties
from tests.conftest import Servers
from tests.integration.api_helpers import assert_problem, submit, submit_batch
from tests.integration.conftest import StartWorker, _client, api_settings, wait_for_status
from tests.support.wait import until

Json = dict[str, Any]
NOOP = {"type": "jobq.noop"}
FAIL_ONCE = {"type": "jobq.fail", "payload": {"times": 1}}
FAIL_FOR_GOOD = {"type": "jobq.fail", "payload": {"permanent": True}}


async def run_to_the_end(api: httpx.AsyncClient, auth: dict[str, str], jobs: list[Json]) -> list[Json]:
    """Submit `jobs` in one batch and wait until each has succeeded or is dead."""
    batch = await submit_batch(api, auth, jobs)
    return [await wait_for_status(api, auth, job["id"], {"succeeded", "dead"}) for job in batch["jobs"]]


def percentile(values: list[float], p: float) -> float | None:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = p * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


async def expected_minutes(db: asyncpg.Pool) -> dict[datetime, Json]:
    """Per minute, what the rollup must say for the default queue, counted here from the rows."""
    attempts = await db.fetch(
        "SELECT a.attempt, a.outcome, a.started_at, a.finished_at, j.run_at, j.attempts, j.status, j.finished_at"
        " AS job_finished_at FROM jobq_job_attempts a JOIN jobq_jobs j ON j.id = a.job_id"
    )
    out: dict[datetime, Json] = defaultdict(lambda: {"succeeded": 0, "failed": 0, "dead": 0, "run": [], "wait": []})
    for a in attempts:
        minute = floor_to(a["finished_at"], MINUTE)
        row = out[minute]
        if a["outcome"] == "succeeded":
            row["succeeded"] += 1
            row["wait"].append(max(0.0, (a["started_at"] - a["run_at"]).total_seconds() * 1000))
        else:
            row["failed"] += 1
        row["run"].append((a["finished_at"] - a["started_at"]).total_seconds() * 1000)
    for job in await db.fetch("SELECT finished_at FROM jobq_jobs WHERE status = 'dead'"):
        out[floor_to(job["finished_at"], MINUTE)]["dead"] += 1
    return dict(out)


async def minute_rows(db: asyncpg.Pool, queue: str = "default") -> dict[datetime, asyncpg.Record]:
    rows = await db.fetch("SELECT * FROM jobq_minute_stats WHERE queue = $1 ORDER BY minute", queue)
    return {r["minute"]: r for r in rows}


# --- rolled up by the leader ---------------------------------------------------------

TWO_MINUTES = timedelta(minutes=2)


async def test_a_real_leader_rolls_up_the_minutes_its_jobs_finished_in(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, start_worker: StartWorker
) -> None:
    """The jobs run, then their times are moved two minutes back and a new leader is
    elected: it catches up on the minutes that are over, so no minute has to end during
    the test (waiting for one took up to 70 s)."""
    first = await start_worker()
    await run_to_the_end(api, auth, [NOOP] * 5 + [FAIL_ONCE] * 2 + [FAIL_FOR_GOOD])
    assert first.stop() == 0
    await db.execute("DELETE FROM jobq_minute_stats")
    await db.execute(
        "UPDATE jobq_jobs SET run_at = run_at - $1::interval, created_at = created_at - $1::interval,"
        " started_at = started_at - $1::interval, finished_at = finished_at - $1::interval",
        TWO_MINUTES,
    )
    await db.execute(
        "UPDATE jobq_job_attempts SET started_at = started_at - $1::interval, finished_at = finished_at - $1::interval",
        TWO_MINUTES,
    )
    last_finished = await db.fetchval("SELECT max(finished_at) FROM jobq_job_attempts")
    await start_worker()

    async def rolled_up() -> Json | None:
        body: Json = (await api.get("/v1/stats", params={"window": "1h"}, headers=auth)).json()
        until_ = body["rolled_up_until"]
        return body if until_ and datetime.fromisoformat(until_) > last_finished else None

    stats = await until(rolled_up, timeout_s=30, every_s=0.5, what="the new leader to roll up the jobs' minutes")

    summary = stats["total"]["summary"]
    # 5 no-ops and 2 second attempts succeeded; 2 first attempts and 1 permanent failure failed.
    assert (summary["succeeded"], summary["failed"], summary["dead"], summary["completed"]) == (7, 3, 1, 8)
    assert summary["run_ms_p50"] is not None and summary["run_ms_p95"] >= summary["run_ms_p50"] >= 0
    assert summary["wait_ms_p50"] is not None and summary["wait_ms_p95"] >= summary["wait_ms_p50"] >= 0
    (default,) = [q for q in stats["queues"] if q["queue"] == "default"]
    assert default["summary"] == summary
    expected = await expected_minutes(db)
    rows = await minute_rows(db)
    for minute, want in expected.items():
        row = rows[minute]
        assert (row["succeeded"], row["failed"], row["dead"]) == (want["succeeded"], want["failed"], want["dead"])
    assert len(rows) >= len(expected)  # the quiet minutes before have their rows (zeros) too

    # The numbers come from the rollups: they stay when the jobs are gone.
    await db.execute("DELETE FROM jobq_jobs")
    again = (await api.get("/v1/stats", params={"window": "1h"}, headers=auth)).json()
    assert again["total"]["summary"] == summary


async def test_the_duty_rolls_up_each_minute_from_its_attempts_and_again_changes_nothing(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, start_worker: StartWorker, duties: Duties
) -> None:
    """The minute boundary injected: no waiting, and no leader of its own running meanwhile."""
    await start_worker(JOBQ_LEADER_DUTIES="false", JOBQ_RETRY_BASE_S="0")
    await run_to_the_end(api, auth, [NOOP] * 4 + [FAIL_ONCE] * 3 + [FAIL_FOR_GOOD] * 2)
    expected = await expected_minutes(db)
    last = max(expected)

    # Within the grace after the last minute ends, that minute waits; the hour before is filled in.
    assert await duties.roll_up(now=last + MINUTE + ROLLUP_GRACE / 2) == 60
    assert last not in await minute_rows(db)
    assert await duties.roll_up(now=last + MINUTE + ROLLUP_GRACE) == 1

    rows = await minute_rows(db)
    assert min(rows) == last - 60 * MINUTE and max(rows) == last
    assert all(r["succeeded"] == r["failed"] == r["dead"] == 0 for m, r in rows.items() if m not in expected)
    for minute, want in expected.items():
        row = rows[minute]
        assert (row["succeeded"], row["failed"], row["dead"]) == (want["succeeded"], want["failed"], want["dead"])
        assert (row["run_samples"], row["wait_samples"]) == (len(want["run"]), len(want["wait"]))
        assert row["run_ms_p50"] == pytest.approx(percentile(want["run"], 0.5))
        assert row["run_ms_p95"] == pytest.approx(percentile(want["run"], 0.95))
        assert row["wait_ms_p50"] == pytest.approx(percentile(want["wait"], 0.5))
        assert row["wait_ms_p95"] == pytest.approx(percentile(want["wait"], 0.95))
    assert sum(r["succeeded"] for r in rows.values()) == 7
    assert sum(r["failed"] for r in rows.values()) == 5
    assert rows[last]["dead_total"] == 2

    # Idempotent: nothing left to do, and rolling a minute up again writes the same numbers.
    assert await duties.roll_up(now=last + MINUTE + ROLLUP_GRACE) == 0
    await pg_stats.roll_up(db, Span(last, last + MINUTE))
    again = await minute_rows(db)
    assert {m: {**dict(r), "computed_at": None} for m, r in again.items()} == {
        m: {**dict(r), "computed_at": None} for m, r in rows.items()
    }


async def test_minute_rows_past_their_retention_are_pruned_with_the_jobs(
    db: asyncpg.Pool, builtin_types: None, duties: Duties
) -> None:
    now = floor_to(datetime.now(UTC), MINUTE)
    for minute in (now - timedelta(days=9), now - timedelta(days=7), now - MINUTE):
        await db.execute(Q["roll_up_minute"], minute)

    await duties.prune()

    kept = {r["minute"] for r in await db.fetch("SELECT DISTINCT minute FROM jobq_minute_stats")}
    assert kept == {now - timedelta(days=7), now - MINUTE}


# --- read back in windows --------------------------------------------------------------

LATEST = floor_to(datetime.now(UTC), timedelta(hours=1)) - timedelta(hours=1) + 37 * MINUTE
ZERO = {"succeeded": 0, "failed": 0, "dead": 0, "run_samples": 0, "wait_samples": 0}


async def put_minute(db: asyncpg.Pool, minute: datetime, queue: str, **numbers: Any) -> None:
    """A rollup row as the leader would have written it."""
    row = {**ZERO, "dead_total": 0, **numbers}
    await db.execute(
        "INSERT INTO jobq_minute_stats (minute, queue, succeeded, failed, dead, dead_total, run_samples,"
        " run_ms_p50, run_ms_p95, wait_samples, wait_ms_p50, wait_ms_p95)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        minute,
        queue,
        row["succeeded"],
        row["failed"],
        row["dead"],
        row["dead_total"],
        row["run_samples"],
        row.get("run_ms_p50"),
        row.get("run_ms_p95"),
        row["wait_samples"],
        row.get("wait_ms_p50"),
        row.get("wait_ms_p95"),
    )


@pytest.fixture
async def minutes(db: asyncpg.Pool) -> None:
    """Queue a: a busy minute and a busier one before it; queue b: quiet, and busy 90 minutes earlier."""
    busy = {"run_samples": 10, "run_ms_p50": 100.0, "run_ms_p95": 200.0, "wait_samples": 10, "wait_ms_p50": 5.0}
    await put_minute(db, LATEST, "a", succeeded=10, failed=2, dead=1, **busy, wait_ms_p95=9.0)
    busier = {"run_samples": 30, "run_ms_p50": 200.0, "run_ms_p95": 250.0, "wait_samples": 30, "wait_ms_p50": 1.0}
    await put_minute(db, LATEST - MINUTE, "a", succeeded=30, **busier, wait_ms_p95=50.0)
    await put_minute(db, LATEST, "b")
    early = {"run_samples": 4, "run_ms_p50": 10.0, "run_ms_p95": 20.0, "wait_samples": 4, "wait_ms_p50": 1.0}
    await put_minute(db, LATEST - 90 * MINUTE, "b", succeeded=4, failed=8, **early, wait_ms_p95=2.0)


def numbers(minutes: int, succeeded: int, failed: int, dead: int, run: tuple[Any, Any], wait: tuple[Any, Any]) -> Json:
    completed = succeeded + dead
    return {
        "minutes": minutes,
        "completed": completed,
        "succeeded": succeeded,
        "failed": failed,
        "dead": dead,
        "throughput_per_min": completed / minutes if minutes else None,
        "run_ms_p50": run[0],
        "run_ms_p95": run[1],
        "wait_ms_p50": wait[0],
        "wait_ms_p95": wait[1],
    }


EMPTY = numbers(0, 0, 0, 0, (None, None), (None, None))
A_LATEST = numbers(1, 10, 2, 1, (100.0, 200.0), (5.0, 9.0))
A_BEFORE = numbers(1, 30, 0, 0, (200.0, 250.0), (1.0, 50.0))
# Two minutes: p50 weighted by samples ((100·10 + 200·30) / 40), p95 the higher one.
A_BOTH = numbers(2, 40, 2, 1, (175.0, 250.0), (2.0, 50.0))
B_LATEST = numbers(1, 0, 0, 0, (None, None), (None, None))
B_EARLY = numbers(1, 4, 8, 0, (10.0, 20.0), (1.0, 2.0))


def by_start(series: Json) -> dict[datetime, Json]:
    return {datetime.fromisoformat(b.pop("start")): b for b in series["buckets"]}


async def stats(api: httpx.AsyncClient, auth: dict[str, str], window: str) -> Json:
    response = await api.get("/v1/stats", params={"window": window}, headers=auth)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


async def test_the_hour_is_sixty_minute_buckets_ending_with_the_latest_minute(
    api: httpx.AsyncClient, auth: dict[str, str], minutes: None
) -> None:
    body = await stats(api, auth, "1h")

    assert (body["window"], body["bucket_s"]) == ("1h", 60)
    assert datetime.fromisoformat(body["rolled_up_until"]) == LATEST + MINUTE
    assert datetime.fromisoformat(body["start"]) == LATEST - 59 * MINUTE
    assert datetime.fromisoformat(body["end"]) == LATEST + MINUTE
    assert [q["queue"] for q in body["queues"]] == ["a", "b"]  # b's busy minute is outside the hour
    a, b = body["queues"]
    buckets = by_start(a)
    assert list(buckets) == [LATEST - (59 - i) * MINUTE for i in range(60)]
    assert buckets[LATEST] == A_LATEST
    assert buckets[LATEST - MINUTE] == A_BEFORE
    assert all(v == EMPTY for k, v in buckets.items() if k < LATEST - MINUTE)
    assert a["summary"] == A_BOTH
    assert b["summary"] == B_LATEST
    total = by_start(body["total"])
    assert total[LATEST] == {**A_LATEST, "minutes": 1}  # b's row adds a rolled-up minute and nothing else
    assert body["total"]["summary"] == A_BOTH


async def test_the_day_and_the_week_sum_minutes_into_quarter_hours_and_hours(
    api: httpx.AsyncClient, auth: dict[str, str], minutes: None
) -> None:
    day = await stats(api, auth, "24h")
    assert (day["bucket_s"], len(day["total"]["buckets"])) == (900, 96)
    quarter = LATEST - 7 * MINUTE  # :30, holding :36 and :37
    a, b = day["queues"]
    assert by_start(a)[quarter] == A_BOTH
    assert by_start(b)[LATEST - 90 * MINUTE - 7 * MINUTE] == B_EARLY
    assert b["summary"] == {**B_EARLY, "minutes": 2, "throughput_per_min": 2.0}
    assert day["total"]["summary"] == numbers(3, 44, 10, 1, ((175 * 40 + 10 * 4) / 44, 250.0), ((2 * 40 + 4) / 44, 50))

    week = await stats(api, auth, "7d")
    assert (week["bucket_s"], len(week["total"]["buckets"])) == (3600, 168)
    hour = LATEST - 37 * MINUTE
    assert datetime.fromisoformat(week["total"]["buckets"][-1]["start"]) == hour
    assert by_start(week["queues"][0])[hour] == A_BOTH
    assert week["total"]["summary"] == day["total"]["summary"]


async def test_every_reader_gets_the_same_numbers(api: httpx.AsyncClient, auth: dict[str, str], minutes: None) -> None:
    first, second = await stats(api, auth, "24h"), await stats(api, auth, "24h")
    assert first == second


async def test_with_nothing_rolled_up_every_bucket_is_empty(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = await stats(api, auth, "1h")

    assert body["rolled_up_until"] is None
    assert body["queues"] == []
    buckets = by_start(body["total"])
    assert len(buckets) == 60
    assert all(bucket == EMPTY for bucket in buckets.values())
    assert body["total"]["summary"] == EMPTY


async def test_stats_need_the_read_scope_and_a_known_window(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    assert_problem(await api.get("/v1/stats"), 401)
    assert_problem(await api.get("/v1/stats", params={"window": "30d"}, headers=auth), 422, "window")
    reader = {"Authorization": f"Bearer {await apikeys.create(db, 'reader', [Scope.JOBS_READ])}"}
    assert (await api.get("/v1/stats", headers=reader)).json()["window"] == "1h"  # the default
    assert (await api.get("/v1/attention", headers=reader)).status_code == 200
    assert_problem(await api.get("/v1/attention"), 401)


# --- what needs attention --------------------------------------------------------------


async def attention(api: httpx.AsyncClient, auth: dict[str, str], kind: str) -> list[Json]:
    response = await api.get("/v1/attention", headers=auth)
    assert response.status_code == 200, response.text
    return [item for item in response.json()["items"] if item["kind"] == kind]


@pytest.fixture
async def strict_api(servers: Servers, db: asyncpg.Pool, builtin_types: None) -> AsyncIterator[httpx.AsyncClient]:
    """The API with a latency target of an hour, but 0.3 s for the queues `default` and `paused`."""
    settings = api_settings(servers, queue_latency_target_s=3600, queue_latency_targets="default=0.3,paused=0.3")
    async for client in _client(settings):
        yield client


async def test_a_queue_waiting_past_its_target_needs_attention_unless_it_is_paused(
    strict_api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    api = strict_api
    await submit(api, auth, type="jobq.noop")  # no worker runs: it waits
    await submit(api, auth, type="jobq.noop", queue="slow")  # the default target: an hour
    await submit(api, auth, type="jobq.noop", queue="paused")
    assert (await api.post("/v1/queues/paused/pause", headers=auth)).status_code == 200

    async def late() -> list[Json]:
        return await attention(api, auth, "queue_latency")

    (item,) = await until(late, what="the default queue to be named")
    assert (item["queue"], item["type"]) == ("default", None)
    assert item["numbers"]["target_s"] == 0.3
    assert item["numbers"]["ready"] == 1
    assert item["numbers"]["oldest_ready_age_s"] > 0.3
    assert "default" in item["message"] and "0.3s target" in item["message"]


async def test_a_job_type_no_live_worker_serves_needs_attention_until_one_starts(
    api: httpx.AsyncClient, auth: dict[str, str], start_worker: StartWorker
) -> None:
    unserved = {item["type"]: item for item in await attention(api, auth, "type_unserved")}
    assert {"jobq.noop", "jobq.sleep", "jobq.fail"} <= set(unserved)
    assert unserved["jobq.noop"]["queue"] == "default"
    assert unserved["jobq.noop"]["numbers"] == {"alive_workers": 0}

    await start_worker()

    served = {item["type"] for item in await attention(api, auth, "type_unserved")}
    assert served.isdisjoint({"jobq.noop", "jobq.sleep", "jobq.fail"})


async def test_failures_rising_and_dead_jobs_growing_need_attention(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, start_worker: StartWorker, duties: Duties
) -> None:
    """An hour ago (a minute rolled up before the jobs ran) no job was dead; then six die."""
    now = floor_to(datetime.now(UTC), MINUTE)
    for minute in (now - 60 * MINUTE, now - 59 * MINUTE):  # the jobs may end in the next minute
        await db.execute(Q["roll_up_minute"], minute)
    await start_worker(JOBQ_LEADER_DUTIES="false")
    await run_to_the_end(api, auth, [FAIL_FOR_GOOD] * 6)
    assert await attention(api, auth, "failures_rising") == []
    last = floor_to(await db.fetchval("SELECT max(finished_at) FROM jobq_job_attempts"), MINUTE)

    await duties.roll_up(now=last + MINUTE + ROLLUP_GRACE)

    (rising,) = await attention(api, auth, "failures_rising")
    assert rising["queue"] == "default"
    assert rising["numbers"]["recent_failed"] == 6
    assert rising["numbers"]["earlier_failed"] == 0
    assert rising["numbers"]["earlier_minutes"] >= 1
    (growing,) = await attention(api, auth, "dead_growing")
    assert growing["queue"] == "default"
    assert growing["numbers"] == {"dead_now": 6, "dead_hour_ago": 0, "growth": 6}
    assert growing["message"] == "default holds 6 dead jobs, 6 more than an hour before."
    body = (await api.get("/v1/attention", headers=auth)).json()
    assert datetime.fromisoformat(body["rolled_up_until"]) == last + MINUTE
