"""`jobq run` with JOBQ_AUTOSCALE=1: the operator's policy drives local worker processes."""

from __future__ import annotations

import contextlib
import csv
import queue
import re
import time
from pathlib import Path

import asyncpg

from tests.conftest import Servers
from tests.e2e.test_make_run import Runner, http, jobq_run
from tests.support.wait import until

BURST = 60
# Seconds without a heartbeat before the leader declares a worker gone (its default, made explicit).
WORKER_TIMEOUT_S = 30
# A worker row stopped by its own goodbye (`stop_worker`, right after draining, while still
# heartbeating) rather than by the leader's rescue (`mark_lost_workers`, which stops only rows
# whose last heartbeat is over JOBQ_WORKER_TIMEOUT_S old).
STOPPED_ROWS = """
SELECT count(*) FILTER (WHERE stopped_at IS NOT NULL) AS stopped,
       count(*) FILTER (WHERE stopped_at - heartbeat_at < make_interval(secs => $1)) AS said_goodbye
FROM jobq_workers
"""


def wait_line(run: Runner, pattern: str, timeout_s: float = 60) -> re.Match[str]:
    """The first printed line (from now on) matching `pattern`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = run.lines.get(timeout=0.2)
        except queue.Empty:
            if run.process.poll() is not None:
                break
            continue
        run.seen.append(line)
        if match := re.search(pattern, line):
            return match
    raise AssertionError(f"`jobq run` never printed /{pattern}/; output:\n" + "\n".join(run.seen))


def iter_queue(lines: queue.Queue[str]) -> list[str]:
    """What is left in `lines`, without waiting."""
    left: list[str] = []
    while True:
        try:
            left.append(lines.get_nowait())
        except queue.Empty:
            return left


async def test_a_burst_raises_the_local_workers_then_lowers_them_with_no_job_lost(
    tmp_path: Path, servers: Servers, db: asyncpg.Pool
) -> None:
    trace = tmp_path / "autoscale.csv"
    settings = {
        "JOBQ_DATABASE_URL": servers.database_url,
        "JOBQ_REDIS_URL": servers.redis_url,
        "JOBQ_AUTOSCALE": "1",
        "JOBQ_AUTOSCALE_MIN_WORKERS": "1",
        "JOBQ_AUTOSCALE_MAX_WORKERS": "4",
        "JOBQ_CONCURRENCY": "3",
        "JOBQ_AUTOSCALE_TARGET_LATENCY_S": "2",
        "JOBQ_AUTOSCALE_POLL_S": "0.5",
        "JOBQ_AUTOSCALE_SCALE_DOWN_WINDOW_S": "3",
        "JOBQ_AUTOSCALE_TRACE": str(trace),
        "JOBQ_HEARTBEAT_INTERVAL_S": "1",
        "JOBQ_POLL_DELAY_S": "0.05",
        "JOBQ_WORKER_TIMEOUT_S": str(WORKER_TIMEOUT_S),
    }
    with jobq_run(tmp_path / "data", **settings) as run:
        api_url, key = run.printed("JOBQ_API_URL"), run.printed("JOBQ_API_KEY")
        wait_line(run, r"Autoscaling: 1 to 4 workers \(3 jobs each")

        # 60 half-second jobs at 3 per worker: one worker would take 10 s, so more start.
        jobs = [{"type": "jobq.sleep", "payload": {"seconds": 0.5}} for _ in range(BURST)]
        status, body = http("POST", f"{api_url}/v1/jobs/batch", key, {"jobs": jobs})
        assert status in (200, 201), body
        up = wait_line(run, r"jobq autoscale: 1 -> (\d+) workers")
        assert int(up.group(1)) > 1

        # The burst drains; every job succeeded once, none was lost to a stopped worker.
        down = wait_line(run, r"jobq autoscale: (\d+) -> 1 workers", timeout_s=90)
        assert int(down.group(1)) > 1
        counts = dict(await db.fetch("SELECT status, count(*) FROM jobq_jobs GROUP BY status"))
        assert counts == {"succeeded": BURST}
        outcomes = dict(await db.fetch("SELECT outcome, count(*) FROM jobq_job_attempts GROUP BY outcome"))
        assert outcomes == {"succeeded": BURST}

        # Each worker the scaler stopped drained and said goodbye; none was declared lost.
        steps = [re.search(r"jobq autoscale: (\d+) -> (\d+) workers", line) for line in run.seen]
        retired = sum(int(m.group(1)) - int(m.group(2)) for m in steps if m and int(m.group(2)) < int(m.group(1)))
        assert retired >= 1

        async def stopped_rows() -> tuple[int, int]:
            row = await db.fetchrow(STOPPED_ROWS, WORKER_TIMEOUT_S)
            return row["stopped"], row["said_goodbye"]

        async def only_goodbyes() -> bool:
            return await stopped_rows() == (retired, retired)

        with contextlib.suppress(AssertionError):  # the assert below shows the counts
            await until(only_goodbyes, timeout_s=30)
        assert await stopped_rows() == (retired, retired)  # (stopped, said goodbye)

        assert run.interrupt() == 0
        # On Ctrl-C the rest drain and say goodbye too, and the leader never declared a worker gone.
        registered = await db.fetchval("SELECT count(*) FROM jobq_workers")
        assert await stopped_rows() == (registered, registered)
        run.reader.join(10)
        run.seen += list(iter_queue(run.lines))
        assert not [line for line in run.seen if "workers gone (no heartbeat" in line]

    rows = list(csv.reader(trace.read_text().splitlines()))
    workers = [int(r[4]) for r in rows]
    assert max(workers) > 1 and workers[-1] == 1
