"""Run a burst through `jobq run` with JOBQ_AUTOSCALE=1 and plot workers against the queue.

    python -m tools.autoscale_plot            # writes docs/autoscale-burst.png (and .csv)

Starts `jobq run` (embedded PostgreSQL and Redis in a temporary folder, unless
JOBQ_DATABASE_URL / JOBQ_REDIS_URL are set), submits BURST one-second `jobq.sleep` jobs
through the API, and records the local scaler's trace until the workers are back to
the minimum. The picture in the README's "Autoscaling" section comes from this script.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from jobq_devrun.runner import API_KEY_VAR, API_URL_VAR, exported

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "autoscale-burst.png"
SETTINGS = {
    "JOBQ_AUTOSCALE": "1",
    "JOBQ_AUTOSCALE_MIN_WORKERS": "1",
    "JOBQ_AUTOSCALE_MAX_WORKERS": "8",
    "JOBQ_CONCURRENCY": "10",
    "JOBQ_AUTOSCALE_TARGET_LATENCY_S": "10",
    "JOBQ_AUTOSCALE_POLL_S": "1",
    "JOBQ_AUTOSCALE_SCALE_DOWN_WINDOW_S": "15",
    "JOBQ_LOG_LEVEL": "WARNING",
}


def _post(url: str, key: str, body: object) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")  # noqa: S310 (loopback)
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310 (loopback)
        pass


def record(burst: int, job_s: float, trace: Path, data_dir: Path) -> None:
    """Run `jobq run`, submit the burst after 5 s, stop once the workers are back to one."""
    env = {**os.environ, **SETTINGS, "JOBQ_AUTOSCALE_TRACE": str(trace)}
    cmd = [sys.executable, "-m", "jobq_core.cli", "run", "--port", "0", "--data-dir", str(data_dir)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    found: dict[str, str] = {}
    try:
        for line in proc.stdout:
            print(line, end="")
            found = exported(line)  # `export JOBQ_API_URL=… JOBQ_API_KEY=…`
            if API_URL_VAR in found and API_KEY_VAR in found:
                break
        time.sleep(5)
        jobs = [{"type": "jobq.sleep", "payload": {"seconds": job_s}} for _ in range(burst)]
        _post(f"{found[API_URL_VAR]}/v1/jobs/batch", found[API_KEY_VAR], {"jobs": jobs})
        deadline = time.monotonic() + 600
        went_up = False
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            print(line, end="")
            went_up = went_up or "jobq autoscale: 1 ->" in line
            if went_up and "-> 1 workers" in line:
                break
        time.sleep(5)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(120)


def plot(trace: Path, out: Path) -> None:
    """Workers and the queue (ready, running) over time, from the scaler's trace."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.reader(trace.read_text().splitlines()))
    t = [float(r[0]) - float(rows[0][0]) for r in rows]
    ready, running, workers = ([int(r[i]) for r in rows] for i in (1, 2, 4))
    fig, queue_axis = plt.subplots(figsize=(8, 3.6), dpi=110)
    queue_axis.fill_between(t, ready, step="post", alpha=0.35, label="ready jobs", color="tab:orange")
    queue_axis.plot(t, running, drawstyle="steps-post", label="running jobs", color="tab:green")
    queue_axis.set_xlabel("seconds")
    queue_axis.set_ylabel("jobs")
    workers_axis = queue_axis.twinx()
    workers_axis.plot(t, workers, drawstyle="steps-post", color="tab:blue", linewidth=2, label="workers")
    workers_axis.set_ylabel("workers")
    workers_axis.set_ylim(0, max(workers) + 1)
    lines = queue_axis.get_legend_handles_labels()
    more = workers_axis.get_legend_handles_labels()
    queue_axis.legend(lines[0] + more[0], lines[1] + more[1], loc="upper right")
    queue_axis.set_title("jobq run, JOBQ_AUTOSCALE=1: a burst of one-second jobs")
    fig.tight_layout()
    fig.savefig(out)


def main() -> int:
    """Record a run and draw it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=600, help="jobs in the burst")
    parser.add_argument("--job-s", type=float, default=1.0, help="seconds each job sleeps")
    parser.add_argument("--out", type=Path, default=OUT, help="the PNG to write (the CSV goes beside it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jobq-autoscale-plot-") as tmp:
        trace = Path(tmp) / "trace.csv"
        record(args.burst, args.job_s, trace, Path(tmp) / "data")
        args.out.with_suffix(".csv").write_text(
            "t_s,ready,running,oldest_ready_age_s,workers,reason\n" + trace.read_text()
        )
        plot(trace, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
