"""Worker and API processes started the way production starts them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from jobq_devrun.processes import WorkerExited, wait_for_workers
from jobq_devrun.servers import LOOPBACK, free_port

from tests.support.wait import until


def service_env(database_url: str, redis_url: str, **overrides: str) -> dict[str, str]:
    """The environment of a service process: ours without JOBQ_*, plus the given settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBQ_")}
    env.update(
        JOBQ_DATABASE_URL=database_url,
        JOBQ_REDIS_URL=redis_url,
        JOBQ_POLL_DELAY_S="0.02",
        JOBQ_HEARTBEAT_INTERVAL_S="1",
        JOBQ_LOG_LEVEL="INFO",
        JOBQ_DEMO_HANDLERS="true",
        JOBQ_WORKER_METRICS_PORT="0",  # many workers share this host; a test that scrapes one picks a port
    )
    env.update(overrides)
    return env


@dataclass
class Service:
    """A running service process with its output in a log file."""

    process: subprocess.Popen[bytes]
    log_path: Path
    args: list[str] = field(default_factory=list)
    killed: bool = False

    def log(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the process, as a crash would: it then exits -9, and that is expected."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.killed = True

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30) -> int:
        """Send `sig` and wait for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start(module: str, env: dict[str, str], log_path: Path) -> Service:
    """Start `python -m module` with `env`, output to `log_path`."""
    with open(log_path, "wb") as log:  # the child keeps its own copy
        proc = subprocess.Popen([sys.executable, "-m", module], env=env, stdout=log, stderr=subprocess.STDOUT)
    return Service(proc, log_path, [module])


async def start_worker(db: asyncpg.Pool, env: dict[str, str], log_path: Path, timeout_s: float = 20) -> Service:
    """Start a worker process with `env` and wait until it has registered."""
    service = start("jobq_worker", env, log_path)
    try:
        await wait_for_workers(db, [service.process], timeout_s)
    except WorkerExited as exc:
        raise AssertionError(f"{exc}:\n{service.log()}") from None
    return service


@dataclass
class Api:
    """A running API process and the URL it answers on."""

    url: str
    service: Service


async def start_api(env: dict[str, str], log_path: Path, timeout_s: float = 60) -> Api:
    """Start the API with `env` on a free loopback port and wait until /readyz answers 200.

    An API that exits first fails the caller with its output; one that does not get ready
    in time is stopped.
    """
    port = free_port()
    service = start("jobq_api", {**env, "JOBQ_HOST": LOOPBACK, "JOBQ_PORT": str(port)}, log_path)
    api = Api(f"http://{LOOPBACK}:{port}", service)
    try:
        async with httpx.AsyncClient(base_url=api.url, timeout=5) as client:

            async def ready() -> bool:
                if service.process.poll() is not None:
                    raise AssertionError(f"the API exited early:\n{service.log()}")
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await until(ready, timeout_s=timeout_s, what="the API to answer /readyz")
    except BaseException:
        service.stop()
        raise
    return api
