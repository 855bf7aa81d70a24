"""`jobq queues`, `pause`, `resume`, `workers` and `schedules`."""

from __future__ import annotations

import re

import asyncpg

from jobq_client import AsyncClient
from jobq_core.pg.apikeys import Scope
from tests.client.cli.conftest import Cli
from tests.client.conftest import new_key
from tests.integration.conftest import StartWorker


async def test_queues_pause_and_resume(cli: Cli, api: AsyncClient, db: asyncpg.Pool) -> None:
    for _ in range(3):
        await api.submit("jobq.noop", queue="reports")
    await api.submit("jobq.noop", queue="reports", delay_s=600)

    table = await cli("queues")
    assert table.code == 0, table
    assert table.lines[0].split() == ["QUEUE", "READY", "SCHEDULED", "RUNNING", "DEAD", "OLDEST", "READY", "PAUSED"]
    reports = next(line for line in table.lines if line.startswith("reports"))
    assert re.fullmatch(r"reports +3 +1 +0 +0 +\d+ s  -", reports), reports

    paused = await cli("pause", "reports")
    assert paused.code == 0 and paused.out == "queue reports paused: 3 ready, 1 scheduled, 0 running\n", paused
    listed = {q["name"]: q for q in (await cli("queues", "--json")).json()}
    assert listed["reports"]["paused"] is True and listed["reports"]["ready"] == 3
    shown = next(line for line in (await cli("queues")).lines if line.startswith("reports"))
    assert shown.endswith("  paused"), shown

    resumed = await cli("resume", "reports", "--json")
    assert resumed.code == 0 and resumed.json()["paused"] is False and resumed.json()["name"] == "reports"

    reader = cli.with_env(JOBQ_API_KEY=await new_key(db, Scope.JOBS_READ, Scope.JOBS_WRITE))
    refused = await reader("pause", "reports")
    assert refused.code == 4, refused
    assert refused.errors == [
        "jobq: The API key lacks the scope this needs: POST /v1/queues/reports/pause answered 403: "
        "this API key lacks the admin scope"
    ]
    assert (await reader("queues")).code == 0


async def test_workers_lists_each_worker_alive_or_not(cli: Cli, start_worker: StartWorker) -> None:
    assert (await cli("workers")).errors == ["jobq: no worker seen"]
    await start_worker()
    stopped = await start_worker(JOBQ_CONCURRENCY="3")
    assert stopped.stop() == 0

    table = await cli("workers")
    assert table.code == 0, table
    assert table.lines[0].split() == [
        "ID",
        "HOST",
        "PID",
        "QUEUES",
        "RUNNING",
        "CONCURRENCY",
        "ALIVE",
        "HEARTBEAT",
        "STARTED",
    ]
    rows = {line.split()[2]: line for line in table.lines[1:]}
    assert re.search(r"default +0 +3  no, stopped \d+ s ago", rows[str(stopped.process.pid)]), table.out
    alive = next(row for pid, row in rows.items() if pid != str(stopped.process.pid))
    assert re.search(r"default +0 +10  yes +\d+ s ago +\d+ s ago$", alive), alive

    workers = (await cli("workers", "--json")).json()
    assert sorted(w["alive"] for w in workers) == [False, True]
    assert {w["pid"] for w in workers} >= {stopped.process.pid}


async def test_schedules_lists_each_schedule_and_when_it_runs_next(cli: Cli, api: AsyncClient) -> None:
    assert (await cli("schedules")).errors == ["jobq: no schedule"]
    await api.create_schedule("nightly", "0 2 * * *", {"type": "jobq.noop"}, timezone="Europe/Paris")
    await api.create_schedule(
        "every-minute", "* * * * *", {"type": "jobq.sleep", "payload": {"seconds": 1}}, paused=True
    )

    table = await cli("schedules")
    assert table.code == 0, table
    assert table.lines[0].split() == [
        "NAME",
        "CRON",
        "TIMEZONE",
        "TYPE",
        "STATE",
        "NEXT",
        "RUN",
        "LAST",
        "RUN",
        "LAST",
        "JOB",
    ]
    rows = {line.split()[0]: line for line in table.lines[1:]}
    assert re.fullmatch(
        r"nightly +0 2 \* \* \* +Europe/Paris +jobq\.noop +active +in \d+ (min|h) +- +-", rows["nightly"]
    )
    assert re.fullmatch(r"every-minute +\* \* \* \* \* +UTC +jobq\.sleep +paused +- +- +-", rows["every-minute"])

    listed = (await cli("schedules", "--json")).json()
    assert [s["name"] for s in listed] == ["every-minute", "nightly"]
    assert listed[1]["cron"] == "0 2 * * *" and len(listed[1]["next_runs"]) == 10
