"""Crash a server as a power cut would, short of the operating system: every process at once."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from jobq_devrun.servers import LocalServer

from tests.support.wait import until


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat.parent.name))
    return children


def alive(pid: int) -> bool:
    """Whether `pid` is a process that has not exited (a zombie has)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


async def crash_all(server: LocalServer) -> list[int]:
    """SIGKILL PostgreSQL's postmaster and every process it started; wait until none is left.

    Each child of the postmaster leads a process group of its own, so killing the
    postmaster's group leaves its backends and WAL writer running for a moment: all are
    stopped first, then killed, so none writes or answers anything after the crash.
    """
    os.kill(server.process.pid, signal.SIGSTOP)  # it starts no more children
    pids = [server.process.pid, *children_of(server.process.pid)]
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
    server.process.wait()

    async def gone() -> bool:
        return not any(alive(pid) for pid in pids)

    await until(gone, what="every PostgreSQL process to exit")
    return pids
