"""`make run`'s entry point (`jobq run`) as a user runs it: a process, on free ports."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jobq_devrun.runner import exported

from tests.conftest import Servers

README = Path(__file__).resolve().parents[2] / "README.md"


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

    def line(self, wanted: Callable[[str], bool], what: str, timeout_s: float = 60) -> str:
        """The first printed line (stripped) that is `wanted`, among those seen or still to come."""
        for line in self.seen:
            if wanted(line.strip()):
                return line.strip()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.seen.append(line)
            if wanted(line.strip()):
                return line.strip()
        raise AssertionError(f"`jobq run` never printed {what}; output:\n" + "\n".join(self.seen))

    def printed(self, name: str, timeout_s: float = 60) -> str:
        """The value `jobq run` printed for `name`: on its `export` line, or as `  NAME=value`."""
        line = self.line(lambda s: name in exported(s) or s.startswith(name + "="), name, timeout_s)
        return exported(line).get(name) or line.split("=", 1)[1]

    def banner(self, timeout_s: float = 60) -> list[str]:
        """Every line printed up to `Ctrl-C stops everything.` (stripped)."""
        self.line(lambda s: s == "Ctrl-C stops everything.", "its banner", timeout_s)
        return [line.strip() for line in self.seen]

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


def status_of(url: str, key: str) -> int:
    """The HTTP status of `GET url` with the key, error statuses included."""
    try:
        return http("GET", url, key)[0]
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


def readme_commands(section: str) -> list[str]:
    """The shell commands of the README's `## section`, lines continued with `\\` joined."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {section}\n")
    blocks = re.findall(r"```sh\n(.*?)```", text[start : text.index("\n## ", start + 1)], re.DOTALL)
    commands, current = [], ""
    for line in "".join(blocks).splitlines():
        current += line + "\n"
        if not line.endswith("\\"):
            commands.append(current.strip())
            current = ""
    return [command for command in commands if command]


def readme_command(containing: str) -> str:
    """The one command of the README's "Try it" that contains `containing`."""
    [command] = [c for c in readme_commands("Try it") if containing in c]
    return command


def in_shell(*commands: str) -> str:
    """What bash prints running `commands` one after the other (the first that fails fails the test)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBQ_")}
    script = "set -euo pipefail\n" + "\n".join(commands)
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"{script}\nfailed: {done.stderr}"
    return done.stdout


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
        api_url, key = run.printed("JOBQ_API_URL"), run.printed("JOBQ_API_KEY")
        status, job = http("POST", f"{api_url}/v1/jobs", key, {"type": "jobq.noop", "payload": {"hello": "world"}})
        assert status == 201
        done = wait_succeeded(api_url, key, job["id"])
        assert done["status"] == "succeeded"
        _, workers = http("GET", f"{api_url}/v1/workers", key)
        assert sum(w["alive"] for w in workers["workers"]) == 2
        assert run.interrupt() == 0
    assert postgres_processes(data_dir) == [], "Ctrl-C left PostgreSQL running"

    with jobq_run(data_dir) as again:
        api_url2, key2 = again.printed("JOBQ_API_URL"), again.printed("JOBQ_API_KEY")
        assert key2 == key, "the admin key changed across a restart"
        _, kept = http("GET", f"{api_url2}/v1/jobs/{job['id']}", key2)
        assert kept["status"] == "succeeded"
        assert again.interrupt() == 0


def test_jobq_run_uses_configured_servers_instead_of_starting_its_own(servers: Servers, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    configured = {
        "JOBQ_DATABASE_URL": servers.database_url,
        "JOBQ_REDIS_URL": servers.redis_url,
        "JOBQ_SMTP_URL": "smtp://127.0.0.1:1",
    }
    with jobq_run(data_dir, **configured) as run:
        api_url, key = run.printed("JOBQ_API_URL"), run.printed("JOBQ_API_KEY")
        _, job = http("POST", f"{api_url}/v1/jobs", key, {"type": "jobq.noop"})
        assert wait_succeeded(api_url, key, job["id"])["status"] == "succeeded"
        # With an SMTP server of its own there is no catcher, and no route that lists caught mail.
        assert not [line for line in run.banner() if line.startswith("mail:")]
        assert status_of(f"{api_url}/v1/local/mail", key) == 404
        assert run.interrupt() == 0
    assert not (data_dir / "postgres").exists()
    assert not (data_dir / "redis").exists()
    assert not (data_dir / "mail").exists()


def test_the_readmes_email_example_succeeds_and_lands_in_the_mail_catcher(tmp_path: Path) -> None:
    # A fresh machine: nothing configured, so `jobq run` starts every server, the catcher too.
    data_dir = tmp_path / "data"
    submit, listing = readme_command('"type": "email.send"'), readme_command("/v1/local/mail")
    body = re.search(r"-d '(.*)'", submit, re.DOTALL)
    assert body, submit
    payload = json.loads(body[1])["payload"]
    with jobq_run(data_dir) as run:
        export = run.line(lambda s: s.startswith("export "), "an export line")
        # The README's names are the ones printed: its commands run in a shell that pasted the line.
        assert exported(export).keys() == exported(readme_command("export ")).keys()
        api_url, key = exported(export)["JOBQ_API_URL"], exported(export)["JOBQ_API_KEY"]
        mail_dir = data_dir.resolve() / "mail"
        [mail_line] = [line for line in run.banner() if line.startswith("mail:")]
        pages = f"({re.escape(api_url)}/ui/mail|{re.escape(api_url)}/v1/local/mail)"
        assert re.fullmatch(rf"mail: caught, see {pages} and {re.escape(str(mail_dir))}/", mail_line), mail_line

        job = json.loads(in_shell(export, submit))
        assert "id" in job, job
        done = wait_succeeded(api_url, key, job["id"])
        assert done["status"] == "succeeded", done["error"]

        listed = json.loads(in_shell(export, listing))
        [mail] = [m for m in listed["messages"] if m["message_id"] == f"<{job['id']}@jobq>"]
        assert mail["recipients"] == payload["to"]
        assert mail["subject"] == payload["subject"]
        assert (mail["text"], mail["html"]) == (payload["text"] + "\n", payload["html"] + "\n")
        assert f"Message-ID: <{job['id']}@jobq>" in (mail_dir / f"{mail['id']}.eml").read_text()
        assert run.interrupt() == 0
