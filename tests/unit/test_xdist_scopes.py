"""make test's split of the suite between its two pytest processes (tests/support/xdist_scopes.py):
the node tests' files go to one process together, every other file on its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import xdist_scopes
from tests.support.xdist_scopes import xdist_scope

SCOPES = Path(xdist_scopes.__file__)


def test_node_test_files_share_a_scope_and_other_files_have_their_own() -> None:
    assert xdist_scope("tests/cluster/test_node.py::test_a") == "tests/cluster/"
    assert xdist_scope("tests/cluster/test_chart_on_a_node.py::test_b[x::y]") == "tests/cluster/"
    assert xdist_scope("tests/unit/test_retry.py::test_c[1]") == "tests/unit/test_retry.py"
    assert xdist_scope("tests/clusters/test_d.py::test_e") == "tests/clusters/test_d.py"


TEST_FILE = """
import os, pathlib
def test_where(): pathlib.Path(os.environ["WHERE_LOG"], __name__ + "-" + os.environ["PYTEST_XDIST_WORKER"]).touch()
"""


def test_under_xdist_every_node_test_file_runs_in_one_process(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('xdist_scopes', {str(SCOPES)!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "pytest_xdist_make_scheduler = module.pytest_xdist_make_scheduler\n"
    )
    for folder, names in {"cluster": "abcdef", "unit": "uvwxyz"}.items():
        (tmp_path / "tests" / folder).mkdir(parents=True)
        for name in names:
            (tmp_path / "tests" / folder / f"test_{folder}_{name}.py").write_text(TEST_FILE)
    log = tmp_path / "log"
    log.mkdir()
    # Its own basetemp: a pytest on the default one resets /tmp/pytest-of-<user> to 0700,
    # locking a PostgreSQL that another test runs as its own user out of its data
    # directory (its shutdown checkpoint could not open pg_control: a crash, and the
    # non-durable test server lost commits).
    run = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadfile"),
            f"--basetemp={tmp_path / 'tmp'}",
        ],
        cwd=tmp_path,
        env={**os.environ, "WHERE_LOG": str(log)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr

    where = {entry.name.rsplit("-", 1)[0]: entry.name.rsplit("-", 1)[1] for entry in log.iterdir()}
    assert len(where) == 12
    assert len({w for name, w in where.items() if name.startswith("test_cluster")}) == 1, where
    assert len(set(where.values())) == 2, "the other files still spread over both processes"
