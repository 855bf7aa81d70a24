"""The benchmark harness works end to end: every system, every scenario, a few hundred jobs.

Behaviour only: it proves `make bench` can produce its table (servers, venvs, worker
processes, clients, CPU accounting, report), and that every system processed every job
correctly, as did the same ARQ app on ARQ's worker and on jobq (issue 15's comparison).
No speed is asserted; CI machines are too noisy for that.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYSTEMS = ["jobq", "arq", "celery", "saq"]
SCENARIOS = ["pickup", "throughput", "load", "load_same", "mixed"]

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("bench-results")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
    )
    return out, done


@pytest.mark.timeout(600)
def test_the_smoke_run_finishes_and_every_job_of_every_system_is_accounted_for(smoke) -> None:
    out, done = smoke
    assert done.returncode == 0, done.stderr[-4000:]
    document = json.loads((out / "results.json").read_text())

    assert document["settings"]["systems"] == SYSTEMS
    assert document["machine"]["cores"] >= 1 and document["machine"]["cpu_model"]
    for system in SYSTEMS:
        assert all(document["versions"][system].values()), document["versions"][system]
    assert document["versions"]["servers"]["postgresql"] and document["versions"]["servers"]["redis"]

    runs = {run["system"]: run for run in document["runs"]}
    assert sorted(runs) == sorted(SYSTEMS)
    for system, run in runs.items():
        expected = [*SCENARIOS, "batch"] if system == "jobq" else SCENARIOS
        assert sorted(run["scenarios"]) == sorted(expected), system
        for name, result in run["scenarios"].items():
            assert "error" not in result, (system, name, result.get("error"))
        s = run["scenarios"]
        assert s["throughput"]["finished"] == s["throughput"]["unique"] == 300, system
        assert s["throughput"]["jobs_per_s"] > 0
        assert s["throughput"]["cpu_s_per_1000_jobs"]["workers"] > 0, system
        assert s["pickup"]["n"] == 20 and 0 <= s["pickup"]["p50_ms"] <= s["pickup"]["p99_ms"], system
        for load in ("load", "load_same"):
            assert s[load]["missing"] == 0 and s[load]["p50_ms"] <= s[load]["p99_ms"], (system, load)
        assert s["load_same"]["rate"] == document["settings"]["same_load_rate"], system
        assert s["mixed"]["correct"] and s["mixed"]["wrong_attempts"] == 0 and s["mixed"]["flaky"] == 20, system
        assert run["idle_redis"]["commands_per_s_per_worker"] >= 0

    # jobq's answer is checked in its own record: PostgreSQL rows, attempt history and the API.
    mixed = runs["jobq"]["scenarios"]["mixed"]
    assert mixed["rows"] == 200 and mixed["wrong_attempt_history"] == 0
    assert mixed["api_checked"] == 20 and mixed["api_wrong"] == 0
    batch = runs["jobq"]["scenarios"]["batch"]
    assert batch["in_postgres"] == batch["in_redis"] == 2000 and batch["correct"]
    assert {"api", "postgres", "redis", "client"} <= set(runs["jobq"]["scenarios"]["throughput"]["cpu_s"])


def test_the_same_arq_app_ran_every_job_on_arqs_worker_and_on_jobq(smoke) -> None:
    out, done = smoke
    assert done.returncode == 0, done.stderr[-4000:]
    part = json.loads((out / "results.json").read_text())["arq_app"]

    assert part["app"] == "bench.systems.arq_app.WorkerSettings"
    assert part["commands"]["jobq"] == "jobq-worker --arq bench.systems.arq_app.WorkerSettings"
    for side in ("arq", "jobq"):
        assert all(part["versions"][side].values()), part["versions"][side]
    runs = {run["side"]: run for run in part["runs"]}
    assert sorted(runs) == ["arq", "jobq"]
    for side, run in runs.items():
        assert "error" not in run, (side, run.get("error"))
        assert sorted(run["scenarios"]) == ["drain", "pickup"], side
        for name, result in run["scenarios"].items():
            assert "error" not in result, (side, name, result.get("error"))
            # Each job ran once, and ARQ's producer reads its result (a sample through Job.result()).
            assert result["finished"] == result["unique"] == result["results"] == result["jobs"], (side, name)
            assert result["missing"] == result["earlier_jobs_run_again"] == 0, (side, name)
            assert result["results_checked"] > 0 and result["results_wrong"] == 0, (side, name)
        drain, pickup = run["scenarios"]["drain"], run["scenarios"]["pickup"]
        assert drain["jobs"] == 300 and drain["jobs_per_s"] > 0, side
        assert drain["cpu_s_per_1000_jobs"]["workers"] > 0 and "redis" in drain["cpu_s"], side
        assert pickup["n"] == 20 and 0 <= pickup["p50_ms"] <= pickup["p99_ms"], side
    # On jobq every ARQ job is also a succeeded row in PostgreSQL, whose CPU is jobq's.
    assert runs["jobq"]["postgres_succeeded"] == runs["jobq"]["enqueued"] == 320
    assert "postgres" in runs["jobq"]["scenarios"]["drain"]["cpu_s"]
    assert "postgres" not in runs["arq"]["scenarios"]["drain"]["cpu_s"]

    summary = part["summary"]
    assert summary["ok"]
    for side in ("arq", "jobq"):
        assert summary[side]["accounted"] and not summary[side]["errors"], side
        for key in ("drain_jobs_per_s", "pickup_p50_ms", "pickup_p99_ms", "cpu_workers_per_1000", "cpu_all_per_1000"):
            assert summary[side][key] is not None, (side, key)


def test_the_report_has_a_row_per_system_and_the_plots(smoke) -> None:
    out, done = smoke
    assert done.returncode == 0, done.stderr[-4000:]
    table = (out / "results.md").read_text()
    for label in ("| jobq |", "| raw ARQ |", "| Celery |", "| SAQ |"):
        assert table.count(label) == 2, label
    assert "## The same ARQ app on ARQ's worker and on jobq" in table
    for label in ("| ARQ's worker |", "| jobq (`jobq-worker --arq`) |"):
        assert table.count(label) == 1, label
    assert "**no**" not in table and "Failures:" not in table
    for name in ("throughput.png", "latency.png", "cpu.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
