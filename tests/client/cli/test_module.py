"""The commands join core's `jobq` through the `jobq.commands` entry point, and run without core
as `python -m jobq_client`."""

from __future__ import annotations

import json
import subprocess
import sys

from jobq_client.cli import synopses
from jobq_client.cli.exits import MEANINGS
from tests.client.cli.conftest import JOBQ, Cli

# Run as `python -m jobq_client` in an interpreter where importing core or a service fails,
# as on a machine that installs only the client.
WITHOUT_CORE = """
import runpy, sys

class NoCore:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"jobq_core", "jobq_api", "jobq_worker", "jobq_operator", "jobq_devrun"}:
            raise ImportError(f"{name} is not installed here")
        return None

sys.meta_path.insert(0, NoCore())
sys.argv = ["python -m jobq_client", *sys.argv[1:]]
runpy.run_module("jobq_client", run_name="__main__", alter_sys=True)
"""


def without_core(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_CORE, *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_jobq_help_lists_the_client_commands_and_their_exit_statuses() -> None:
    shown = subprocess.run([str(JOBQ), "--help"], capture_output=True, text=True, timeout=60)

    assert shown.returncode == 0, shown.stderr
    listed = {line.split()[0] for line in shown.stdout.splitlines() if line.startswith("    ") and line.split()}
    assert {"migrate", "create-key", "run"} | {synopsis.split()[1] for synopsis, _ in synopses()} <= listed
    assert "exit statuses of the client's commands:" in shown.stdout
    for code, meaning in MEANINGS.items():
        assert f"{int(code):>5}  {meaning}" in shown.stdout


def test_python_m_jobq_client_runs_the_commands_without_core(cli: Cli) -> None:
    helped = without_core("--help")
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: python -m jobq_client [-h] COMMAND ...")
    assert "exit statuses of the client's commands:" in helped.stdout and "tail" in helped.stdout

    listed = without_core("queues", "--json", env=cli.env)
    assert listed.returncode == 0, listed.stderr
    assert [q["name"] for q in json.loads(listed.stdout)] == ["default"]
    missing = without_core("get", "01a232cb-0000-7000-8000-000000000000", env=cli.env)
    assert missing.returncode == 3 and "answered 404" in missing.stderr
