"""`jobq run` with JOBQ_AUTOSCALE=1: the operator's policy drives local worker processes."""

from __future__ import annotations

import csv
import queue
import re
import time
from pathlib import Path

import asyncpg

from tests.conftest import Servers
from tests.e2e.test_make_run import Runner, http, jobq_run

BURST = 60


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
    }
    with jobq_run(tmp_path / "data", **settings) as run:
        api_url, key = run.printed("JOBQ_API_URL"), run.printed("JOBQ_ADMIN_KEY")
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
        stopped = await db.fetchval("SELECT count(*) FROM jobq_workers WHERE stopped_at IS NOT NULL")
        assert stopped >= 1  # the workers it stopped said goodbye (drained), none was declared lost

        assert run.interrupt() == 0

    rows = list(csv.reader(trace.read_text().splitlines()))
    workers = [int(r[4]) for r in rows]
    assert max(workers) > 1 and workers[-1] == 1
