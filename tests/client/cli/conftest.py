"""The `jobq` command run as a person runs it: the console script the virtualenv installed, as a
process, with JOBQ_API_URL and JOBQ_API_KEY in its environment, against the API (and workers)
of tests/client/conftest.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jobq_client import AsyncClient

JOBQ = Path(sys.executable).with_name("jobq")  # .venv/bin/jobq: core's console script, the client's commands in it
TIMEOUT_S = 60


@dataclass
class Ran:
    """A finished command: its exit status and what it printed."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """Its output read as one JSON document."""
        return json.loads(self.out)

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    @property
    def errors(self) -> list[str]:
        return self.err.splitlines()

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def environment(url: str, key: str | None, **extra: str) -> dict[str, str]:
    """Ours without any JOBQ_*, with the two `jobq run` prints (no key when `key` is None)."""
    # Not PYTHONUNBUFFERED either: a pipe must see each line of `tail` because the command flushes it.
    dropped = {"COLUMNS", "PYTHONUNBUFFERED"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBQ_") and k not in dropped}
    env["JOBQ_API_URL"] = url
    if key is not None:
        env["JOBQ_API_KEY"] = key
    env.update(extra)
    return env


@dataclass
class Cli:
    """`jobq` with this environment."""

    env: dict[str, str]
    argv0: tuple[str, ...] = (str(JOBQ),)

    def with_env(self, **changes: str | None) -> Cli:
        """The same command with variables set (or, given None, removed)."""
        env = dict(self.env)
        for name, value in changes.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return Cli(env, self.argv0)

    async def __call__(self, *args: str, input: str | None = None) -> Ran:
        """Run `jobq ARGS…` to its end (in a thread: the test's event loop goes on meanwhile)."""

        def run() -> Ran:
            done = subprocess.run(
                [*self.argv0, *args], env=self.env, input=input, capture_output=True, text=True, timeout=TIMEOUT_S
            )
            return Ran(done.returncode, done.stdout, done.stderr)

        return await asyncio.to_thread(run)

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start `jobq ARGS…` (line-buffered pipes), for a command that runs until stopped."""
        return subprocess.Popen(
            [*self.argv0, *args], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )

    async def on_terminal(self, *args: str, stream: str, columns: int = 80) -> Ran:
        """Run `jobq ARGS…` with `stream` (stdout or stderr) a terminal `columns` wide; what the
        terminal got is returned as that stream's text (with the terminal's \\r\\n as \\n)."""

        def run() -> Ran:
            main, terminal = pty.openpty()
            pipes: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, stream: terminal}
            env = {**self.env, "COLUMNS": str(columns)}
            with subprocess.Popen([*self.argv0, *args], env=env, stdin=subprocess.DEVNULL, **pipes) as proc:
                os.close(terminal)
                shown = b""
                with contextlib.suppress(OSError):  # EIO once the process closed its end
                    while chunk := os.read(main, 65536):
                        shown += chunk
                os.close(main)
                other = (proc.stderr if stream == "stdout" else proc.stdout).read()  # type: ignore[union-attr]
                code = proc.wait(TIMEOUT_S)
            text = shown.decode().replace("\r\n", "\n")
            other_text = other.decode()
            return Ran(code, text, other_text) if stream == "stdout" else Ran(code, other_text, text)

        return await asyncio.to_thread(run)


@pytest.fixture
def cli(api_url: str, admin_key: str) -> Cli:
    """`jobq` pointed at the test's API with an admin key, as `export JOBQ_API_URL=… JOBQ_API_KEY=…` does."""
    return Cli(environment(api_url, admin_key))


@pytest.fixture
def closed_port_url() -> Iterator[str]:
    """A loopback URL nothing listens on (a socket bound and never listening holds the port)."""
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


@pytest.fixture
async def api(api_url: str, admin_key: str) -> AsyncIterator[AsyncClient]:
    """The client itself, to set up what a command then acts on and to check what it did."""
    async with AsyncClient(api_url, api_key=admin_key) as client:
        yield client
