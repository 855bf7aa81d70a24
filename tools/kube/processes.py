"""The cluster's child processes: each logs to a file, dies with us, and is stopped by its own PID."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


def die_with_parent() -> None:
    """Runs in the child before exec: if the Python process dies without stop(), the
    kernel kills the child, so no orphaned server keeps a quarter gigabyte.

    SIGKILL, not SIGTERM: an API server whose etcd is gone hangs in its graceful shutdown.
    """
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


@dataclass
class Process:
    """One child process and the file its output goes to."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    def log_tail(self, lines: int = 30) -> str:
        """The last `lines` lines of the process's output."""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after `timeout_s`; closes the log."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.log_file.close()


@dataclass
class Processes:
    """Processes started in order and stopped in reverse order."""

    log_dir: Path
    started: list[Process] = field(default_factory=list)

    def spawn(self, name: str, executable: Path, *args: str, cwd: Path, env: dict[str, str] | None = None) -> Process:
        """Start `executable` with `args`; its output goes to log_dir/NAME.log."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        log_file = log_path.open("wb")
        try:
            popen = subprocess.Popen(
                [str(executable), *args],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env if env is not None else dict(os.environ),
                # Its own session, so a terminal's Ctrl-C reaches only us and stop() ends
                # the processes in order.
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        except BaseException:
            log_file.close()
            raise
        process = Process(name, popen, log_path, log_file)
        self.started.append(process)
        return process

    def alive(self) -> bool:
        """Whether every process still runs."""
        return bool(self.started) and all(p.popen.poll() is None for p in self.started)

    def logs(self, lines: int = 30) -> str:
        """The end of every process's log, for failure messages."""
        return "\n".join(f"--- {p.name} (exit {p.popen.poll()})\n{p.log_tail(lines)}" for p in self.started)

    def stop(self) -> None:
        """Stop every process, last started first."""
        for process in reversed(self.started):
            process.stop()
        self.started.clear()
