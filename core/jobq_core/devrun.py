"""`jobq run`: everything on one machine, for trying jobq out and for the e2e tests.

Uses JOBQ_DATABASE_URL / JOBQ_REDIS_URL when set; otherwise starts PostgreSQL and
Redis from wheels with their data under ``--data-dir`` (it survives a restart). Then
migrates, makes sure an admin API key exists, and runs the API and the workers as
child processes until Ctrl-C or SIGTERM, when it stops them in order: API first,
workers next (they drain), servers last.

With ``JOBQ_AUTOSCALE=1`` the number of worker processes follows the queues, decided by
the same policy the Kubernetes operator uses (:mod:`jobq_core.autoscale`): workers start
when work waits, and idle ones are stopped first (SIGTERM: they drain) when it is gone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg

from . import apikeys
from .autoscale import Behavior, History, Policy, decide
from .db import Q, create_pool, unavailable_as_error
from .errors import UnavailableError
from .localservers import LocalServer, die_with_parent, free_port, start_postgres, start_redis
from .migrate import migrate_url
from .names import DEFAULT_QUEUE, ENV_PREFIX
from .observe import QueueState, WorkerLoad, check_dispatch, queue_state, worker_load
from .queue import QueueClient
from .settings import AutoscaleSettings, load

# Local mode measures rates and durations over this many seconds.
LOCAL_RATE_WINDOW_S = 10.0
# A local worker without a heartbeat for this long runs nothing as far as scaling goes.
LOCAL_WORKER_TIMEOUT_S = 30.0


def _admin_key(database_url: str, key_file: Path) -> str:
    """The admin key saved in `key_file` if it is still valid, else a new one (saved there)."""
    saved = key_file.read_text().strip() if key_file.exists() else None

    async def ensure() -> tuple[str, bool]:
        conn = await asyncpg.connect(database_url)
        try:
            if saved:
                scopes = await apikeys.scopes_of(conn, saved)
                if scopes and apikeys.allows(scopes, apikeys.Scope.ADMIN):
                    return saved, False
            return await apikeys.create(conn, "make-run admin", [apikeys.Scope.ADMIN]), True
        finally:
            await conn.close()

    key, created = asyncio.run(ensure())
    if created:
        key_file.touch(mode=0o600)
        key_file.write_text(key + "\n")
    return key


def _start_child(module: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    # A session of its own keeps the terminal's Ctrl-C away from the child: the runner
    # stops children in order instead.
    return subprocess.Popen(
        [sys.executable, "-m", module], env=env, start_new_session=True, preexec_fn=die_with_parent(signal.SIGTERM)
    )


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (our own http URL)
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"the API did not answer {url} within {timeout_s:.0f}s")


def _wait_workers(database_url: str, workers: list[subprocess.Popen[bytes]], timeout_s: float = 60) -> None:
    """Until every worker process has registered (its job types are then known to the API)."""
    pids = [w.pid for w in workers]

    async def registered() -> int:
        conn = await asyncpg.connect(database_url)
        try:
            return int(await conn.fetchval(Q["count_registered_workers"], pids))
        finally:
            await conn.close()

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if exited := [w for w in workers if w.poll() is not None]:
            raise RuntimeError(f"a worker exited with code {exited[0].returncode}")
        if asyncio.run(registered()) >= len(pids):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the workers did not register within {timeout_s:.0f}s")


class LocalScaler:
    """The autoscaling policy driving local worker processes (``JOBQ_AUTOSCALE=1``)."""

    def __init__(
        self,
        settings: AutoscaleSettings,
        env: dict[str, str],
        start_worker: Callable[[], subprocess.Popen[bytes]],
    ) -> None:
        concurrency = settings.autoscale_jobs_per_worker or int(env.get(f"{ENV_PREFIX}CONCURRENCY", "10"))
        poll = settings.autoscale_poll_s
        self.settings = settings
        self.policy = Policy(
            min_replicas=settings.autoscale_min_workers,
            max_replicas=settings.autoscale_max_workers,
            jobs_per_worker=concurrency,
            target_latency_s=settings.autoscale_target_latency_s,
            scale_up=Behavior(stabilization_window_s=0, max_step=4, period_s=max(poll, 1.0)),
            scale_down=Behavior(settings.autoscale_scale_down_window_s, max_step=1, period_s=max(poll, 1.0)),
            cooldown_s=0,
        )
        self.database_url = env[f"{ENV_PREFIX}DATABASE_URL"]
        self.redis_url = env[f"{ENV_PREFIX}REDIS_URL"]
        self.start_worker = start_worker
        self.workers: list[subprocess.Popen[bytes]] = []
        self.retiring: list[subprocess.Popen[bytes]] = []
        self.history: History | None = None
        self.started = time.monotonic()
        self.next_look = 0.0
        self.last_problem = ""
        self.loop = asyncio.new_event_loop()
        self.pool: asyncpg.Pool | None = None
        self.queue: QueueClient | None = None

    def start(self) -> None:
        """Start the fewest workers."""
        for _ in range(self.policy.min_replicas):
            self.workers.append(self.start_worker())

    async def _look(self) -> tuple[QueueState, list[WorkerLoad]]:
        if self.pool is None or self.queue is None:
            self.pool = await create_pool(self.database_url, size=2)
            self.queue = QueueClient.from_url(self.redis_url)
        async with unavailable_as_error():
            # Local workers serve every queue: look at all that have workers or work.
            queues = sorted({r["queue"] for r in await self.pool.fetch(Q["autoscale_local_queues"])} | {DEFAULT_QUEUE})
        state = await queue_state(self.pool, queues, LOCAL_RATE_WINDOW_S)
        await check_dispatch(self.queue)
        return state, await worker_load(self.pool, LOCAL_WORKER_TIMEOUT_S)

    def tick(self) -> None:
        """Look at the queues when it is time, and start or stop workers as the policy says."""
        self.retiring = [p for p in self.retiring if p.poll() is None]
        now = time.monotonic()
        if now < self.next_look:
            return
        self.next_look = now + self.settings.autoscale_poll_s
        try:
            state, loads = self.loop.run_until_complete(self._look())
        except UnavailableError as exc:
            if exc.message != self.last_problem:
                print(f"jobq autoscale: {exc.message}; workers left as they are", file=sys.stderr, flush=True)
            self.last_problem = exc.message
            return
        self.last_problem = ""
        current = len(self.workers)
        decision = decide(self.policy, state.observation(now), current, self.history)
        self.history = decision.history
        if decision.desired > current:
            for _ in range(decision.desired - current):
                self.workers.append(self.start_worker())
        elif decision.desired < current:
            self._retire(current - decision.desired, loads)
        if decision.desired != current:
            print(
                f"jobq autoscale: {current} -> {decision.desired} workers ({decision.reason}): {decision.message}",
                flush=True,
            )
        if self.settings.autoscale_trace:
            with open(self.settings.autoscale_trace, "a") as trace:
                trace.write(
                    f"{now - self.started:.2f},{state.ready},{state.running},{state.oldest_ready_age_s:.2f},"
                    f"{len(self.workers)},{decision.reason}\n"
                )

    def _retire(self, count: int, loads: list[WorkerLoad]) -> None:
        """SIGTERM `count` workers, idle ones first (they drain whatever they still run)."""
        running = {w.pid: w.running for w in loads}
        by_load = sorted(self.workers, key=lambda p: (running.get(p.pid, 0), -self.workers.index(p)))
        for proc in by_load[:count]:
            self.workers.remove(proc)
            proc.terminate()
            self.retiring.append(proc)

    def close(self) -> list[subprocess.Popen[bytes]]:
        """Close the connections; return every worker process, running or retiring."""
        if self.pool is not None:
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(self.pool.close())
        if self.queue is not None:
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(self.queue.close())
        self.loop.close()
        return self.workers + self.retiring


def run(args: argparse.Namespace) -> int:
    """Run jobq locally until interrupted; return the exit code."""
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    servers: list[LocalServer] = []
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    env = dict(os.environ)
    autoscale = load(AutoscaleSettings)
    scaler: LocalScaler | None = None
    try:
        database_url = env.get(f"{ENV_PREFIX}DATABASE_URL")
        if not database_url:
            pg = start_postgres(data_dir / "postgres", port=free_port())
            servers.append(pg)
            database_url = env[f"{ENV_PREFIX}DATABASE_URL"] = pg.url
        if not env.get(f"{ENV_PREFIX}REDIS_URL"):
            rd = start_redis(data_dir / "redis", port=free_port())
            servers.append(rd)
            env[f"{ENV_PREFIX}REDIS_URL"] = rd.url
        asyncio.run(migrate_url(database_url))
        key = _admin_key(database_url, data_dir / "admin-key")

        port = args.port or free_port()
        env[f"{ENV_PREFIX}HOST"] = args.host
        env[f"{ENV_PREFIX}PORT"] = str(port)
        api = _start_child("jobq_api", env)
        children.append(api)
        worker_ports: list[int] = []

        def start_worker() -> subprocess.Popen[bytes]:
            worker_ports.append(free_port())  # each worker's /metrics and /healthz on a port of its own
            worker_env = {
                **env,
                f"{ENV_PREFIX}WORKER_METRICS_HOST": args.host,
                f"{ENV_PREFIX}WORKER_METRICS_PORT": str(worker_ports[-1]),
            }
            return _start_child("jobq_worker", worker_env)

        if autoscale.autoscale:
            scaler = LocalScaler(autoscale, env, start_worker)
            scaler.start()
        else:
            for _ in range(args.workers):
                children.append(start_worker())
        api_url = f"http://{args.host}:{port}"
        _wait_http(api_url + "/healthz", api)
        # The URL is printed once jobs can be submitted and run: the workers' job types
        # are registered (an unknown type is refused with 422) and they take work.
        _wait_workers(database_url, scaler.workers if scaler is not None else children[1:])
        print(
            f"\njobq is running.\n  JOBQ_API_URL={api_url}\n  JOBQ_ADMIN_KEY={key}\n"
            f"  data: {data_dir}\n  try: curl -H 'Authorization: Bearer {key}' {api_url}/v1/queues\n"
            f"  metrics: {api_url}/metrics, "
            + ", ".join(f"http://{args.host}:{p}/metrics" for p in worker_ports)
            + "\n"
            "Ctrl-C stops everything.\n",
            flush=True,
        )
        if scaler is not None:
            print(
                f"Autoscaling: {autoscale.autoscale_min_workers} to {autoscale.autoscale_max_workers} workers"
                f" ({scaler.policy.jobs_per_worker} jobs each, oldest ready job under"
                f" {autoscale.autoscale_target_latency_s:g}s).\n",
                flush=True,
            )
        while not stopping:
            for child in children + (scaler.workers if scaler else []):
                if child.poll() is not None:
                    print(f"jobq: a child process exited with code {child.returncode}; stopping", file=sys.stderr)
                    stopping = True
            if scaler is not None and not stopping:
                scaler.tick()
            time.sleep(0.2)
        return 0
    except RuntimeError as exc:
        print(f"jobq: {exc}", file=sys.stderr)
        return 1
    finally:
        if scaler is not None:
            children += scaler.close()
        for child in children:  # API first, then workers: each gets SIGTERM and drains
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(60)
            except subprocess.TimeoutExpired:
                child.kill()
        for server in reversed(servers):
            server.stop()
