"""`jobq run` serves the checkout's dashboard build when there is one, and prints a line a
shell can export."""

from __future__ import annotations

import subprocess
from pathlib import Path

from jobq_devrun.runner import DASHBOARD_BUILD, dashboard_dir, export_line, exported, with_arq_app

ROOT = Path(__file__).resolve().parents[2]


def test_the_build_it_looks_for_is_the_checkouts_dashboard_dist() -> None:
    assert DASHBOARD_BUILD == ROOT / "dashboard" / "dist"


def test_a_build_with_an_index_is_served(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html>")
    assert dashboard_dir({}, build=tmp_path) == str(tmp_path)


def test_no_build_no_dashboard(tmp_path: Path) -> None:
    assert dashboard_dir({}, build=tmp_path / "dist") is None
    assert dashboard_dir({}, build=tmp_path) is None  # a folder without index.html (a build under way)


def test_a_dashboard_dir_already_set_is_kept_and_empty_means_none(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html>")
    assert dashboard_dir({"JOBQ_DASHBOARD_DIR": "/srv/ui"}, build=tmp_path) == "/srv/ui"
    assert dashboard_dir({"JOBQ_DASHBOARD_DIR": ""}, build=tmp_path) is None


def test_the_export_line_sets_in_a_shell_what_it_says() -> None:
    values = {"JOBQ_API_URL": "http://127.0.0.1:8000", "JOBQ_API_KEY": "jobq_a-b_C"}
    line = export_line(values)

    shell = subprocess.run(
        ["bash", "-c", f'{line}\nprintf "%s|%s" "$JOBQ_API_URL" "$JOBQ_API_KEY"'], capture_output=True, text=True
    )

    assert line == "export JOBQ_API_URL=http://127.0.0.1:8000 JOBQ_API_KEY=jobq_a-b_C"
    assert shell.stdout == "http://127.0.0.1:8000|jobq_a-b_C"
    assert exported("  " + line) == values


def test_only_an_export_line_exports_anything() -> None:
    assert exported("JOBQ_API_URL=http://x") == {}
    assert exported("data: /tmp/x") == {}
    assert exported("export A=1 B=2   # a comment=ignored") == {"A": "1", "B": "2"}
    assert exported("export 'unclosed") == {}


def test_jobq_run_arq_hands_the_app_to_every_worker() -> None:
    assert with_arq_app({"A": "1"}, "myapp.worker.WorkerSettings") == {
        "A": "1",
        "JOBQ_ARQ_SETTINGS": "myapp.worker.WorkerSettings",
    }
    assert with_arq_app({"JOBQ_ARQ_SETTINGS": "from.the.Shell"}, None) == {"JOBQ_ARQ_SETTINGS": "from.the.Shell"}


def test_make_run_arq_passes_the_app_to_jobq_run() -> None:
    root = Path(__file__).resolve().parents[2]
    dry = subprocess.run(
        ["make", "-n", "run", "ARQ=myapp.worker.WorkerSettings"], cwd=root, capture_output=True, text=True, check=True
    )
    assert "jobq run --arq myapp.worker.WorkerSettings" in dry.stdout
