"""A set of real worker processes a test can start, kill -9, SIGTERM and inspect."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import asyncpg

from tests.support.processes import Service, service_env, start_worker
from tests.support.wait import until


class Cluster:
    """Worker processes on one PostgreSQL and Redis."""

    def __init__(self, database_url: str, redis_url: str, db: asyncpg.Pool, log_dir: Path, **settings: str):
        self.database_url, self.redis_url, self.db, self.log_dir = database_url, redis_url, db, log_dir
        self.settings = {"JOBQ_RETRY_BASE_S": "0.2", "JOBQ_HANDLER_MODULES": "tests.support.handlers", **settings}
        self.workers: list[Service] = []
        self.killed: set[int] = set()

    async def start_worker(self, **settings: str) -> Service:
        """Start one worker and wait until it has registered."""
        env = service_env(self.database_url, self.redis_url, **{**self.settings, **settings})
        service = await start_worker(self.db, env, self.log_dir / f"worker-{len(self.workers)}.log")
        self.workers.append(service)
        return service

    def by_pid(self, pid: int) -> Service:
        """The worker process with this pid."""
        return next(w for w in self.workers if w.process.pid == pid)

    def kill(self, service: Service) -> None:
        """kill -9: no drain, no goodbye."""
        service.process.send_signal(signal.SIGKILL)
        service.process.wait(10)
        self.killed.add(service.process.pid)

    async def leader_pid(self, timeout_s: float = 20) -> int:
        """The pid of the worker that holds the leader lock (waits for one)."""

        async def leader() -> int | None:
            row = await self.db.fetchrow(
                "SELECT pid FROM jobq_workers WHERE leader_since IS NOT NULL AND stopped_at IS NULL"
                " ORDER BY leader_since DESC LIMIT 1"
            )
            pid = row["pid"] if row else None
            return pid if pid is not None and pid not in self.killed else None

        return await until(leader, timeout_s=timeout_s, what="a leader")

    async def pid_running(self, job_id: str) -> int:
        """The pid of the worker running a job (its worker id is host-pid-suffix)."""
        worker_id = await self.db.fetchval("SELECT worker_id FROM jobq_jobs WHERE id = $1::uuid", job_id)
        return int(worker_id.rsplit("-", 2)[1])

    def alive(self) -> list[Service]:
        """Workers still running."""
        return [w for w in self.workers if w.process.poll() is None]

    def stop_all(self) -> list[int]:
        """SIGTERM every worker still running; their exit codes."""
        return [w.stop() for w in self.workers if w.process.pid not in self.killed]

    def logs(self) -> str:
        """Every worker's output, for failure messages."""
        return "\n".join(f"--- {w.log_path.name}\n{w.log()[-3000:]}" for w in self.workers)


def pid_alive(pid: int) -> bool:
    """Whether a process exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
