"""`jobq run` serves the checkout's dashboard build when there is one."""

from __future__ import annotations

from pathlib import Path

from jobq_devrun.runner import DASHBOARD_BUILD, dashboard_dir

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
