"""`make run`'s entry point (`jobq run`) as a user runs it: a process, on free ports."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import Servers


class Runner:
    """A `jobq run` process whose printed lines are collected as they come."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jobq_core.cli",
                "run",
                "--data-dir",
                str(data_dir),
                "--port",
                "0",
                "--workers",
                "2",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def printed(self, prefix: str, timeout_s: float = 60) -> str:
        """The value of the first printed line `  PREFIX=value`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.seen.append(line)
            if line.strip().startswith(prefix + "="):
                return line.strip().split("=", 1)[1]
        raise AssertionError(f"`jobq run` never printed {prefix}; output:\n" + "\n".join(self.seen))

    def interrupt(self, timeout_s: float = 60) -> int:
        """Ctrl-C, and the exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout_s)


@contextmanager
def jobq_run(data_dir: Path, **settings: str) -> Iterator[Runner]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBQ_")}
    env.update(settings)
    runner = Runner(data_dir, env)
    try:
        yield runner
    finally:
        if runner.process.poll() is None:
            runner.process.kill()
            runner.process.wait()
        runner.reader.join(10)
        assert runner.process.stdout is not None
        runner.process.stdout.close()


def http(method: str, url: str, key: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """What `curl -X METHOD -H 'Authorization: Bearer KEY' -d BODY URL` does."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (our loopback URL)
    request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (our loopback URL)
        return response.status, json.loads(response.read())


def wait_succeeded(api_url: str, key: str, job_id: str, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _, job = http("GET", f"{api_url}/v1/jobs/{job_id}", key)
        if job["status"] in ("succeeded", "dead"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def postgres_processes(data_dir: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "postgres -D" in line and str(data_dir) in line]


def test_jobq_run_starts_everything_runs_a_job_and_keeps_data_across_restarts(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with jobq_run(data_dir) as run:
        api_url, key = run.printed("JOBQ_API_URL"), run.printed("JOBQ_ADMIN_KEY")
        status, job = http("POST", f"{api_url}/v1/jobs", key, {"type": "jobq.noop", "payload": {"hello": "world"}})
        assert status == 201
        done = wait_succeeded(api_url, key, job["id"])
        assert done["status"] == "succeeded"
        _, workers = http("GET", f"{api_url}/v1/workers", key)
        assert sum(w["alive"] for w in workers["workers"]) == 2
        assert run.interrupt() == 0
    assert postgres_processes(data_dir) == [], "Ctrl-C left PostgreSQL running"

    with jobq_run(data_dir) as again:
        api_url2, key2 = again.printed("JOBQ_API_URL"), again.printed("JOBQ_ADMIN_KEY")
        assert key2 == key, "the admin key changed across a restart"
        _, kept = http("GET", f"{api_url2}/v1/jobs/{job['id']}", key2)
        assert kept["status"] == "succeeded"
        assert again.interrupt() == 0


def test_jobq_run_uses_configured_servers_instead_of_starting_its_own(servers: Servers, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with jobq_run(data_dir, JOBQ_DATABASE_URL=servers.database_url, JOBQ_REDIS_URL=servers.redis_url) as run:
        api_url, key = run.printed("JOBQ_API_URL"), run.printed("JOBQ_ADMIN_KEY")
        _, job = http("POST", f"{api_url}/v1/jobs", key, {"type": "jobq.noop"})
        assert wait_succeeded(api_url, key, job["id"])["status"] == "succeeded"
        assert run.interrupt() == 0
    assert not (data_dir / "postgres").exists()
    assert not (data_dir / "redis").exists()
