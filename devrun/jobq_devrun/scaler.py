"""Local autoscaling: the operator's policy driving local worker processes (``JOBQ_AUTOSCALE=1``)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Callable

import asyncpg

from jobq_core.dispatch.channel import DispatchChannel
from jobq_core.errors import UnavailableError
from jobq_core.model.autoscale import Behavior, History, Policy, decide
from jobq_core.names import DEFAULT_QUEUE, ENV_PREFIX
from jobq_core.pg.db import Q, create_pool, unavailable_as_error
from jobq_core.pg.queue_state import QueueState, WorkerLoad, queue_state, worker_load

from .settings import AutoscaleSettings

# Local mode measures rates and durations over this many seconds.
LOCAL_RATE_WINDOW_S = 10.0
# A local worker without a heartbeat for this long runs nothing as far as scaling goes.
LOCAL_WORKER_TIMEOUT_S = 30.0


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
        self.channel: DispatchChannel | None = None

    def start(self) -> None:
        """Start the fewest workers."""
        for _ in range(self.policy.min_replicas):
            self.workers.append(self.start_worker())

    async def _look(self) -> tuple[QueueState, list[WorkerLoad]]:
        if self.pool is None or self.channel is None:
            self.pool = await create_pool(self.database_url, size=2)
            self.channel = DispatchChannel.from_url(self.redis_url)
        async with unavailable_as_error():
            # Local workers serve every queue: look at all that have workers or work.
            queues = sorted({r["queue"] for r in await self.pool.fetch(Q["autoscale_local_queues"])} | {DEFAULT_QUEUE})
        state = await queue_state(self.pool, queues, LOCAL_RATE_WINDOW_S)
        await self.channel.ping()
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
        if self.channel is not None:
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(self.channel.close())
        self.loop.close()
        return self.workers + self.retiring
