"""One leader per cluster: a PostgreSQL advisory lock held on a dedicated connection.

Every worker process tries to take the lock every second; the one holding it runs the
duties. The lock lives as long as the holder's session, so when the leader dies (even
by kill -9) PostgreSQL releases it and another worker takes over within about a second.
TCP keepalives bound how long a leader that vanished from the network keeps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from jobq_core.errors import UnavailableError
from jobq_core.names import LEADER_LOCK_KEY, NEW_JOBS_CHANNEL
from jobq_core.pg.db import CONNECTION_ERRORS, Q

from .duties import EVERY_QUEUED_JOB, Duties
from .settings import WorkerServiceSettings

log = logging.getLogger("jobq.leader")

_RETRYABLE: tuple[type[BaseException], ...] = (*CONNECTION_ERRORS, UnavailableError)
ELECTION_INTERVAL_S = 1.0
LOCK_CHECK_INTERVAL_S = 1.0
PROMOTE_INTERVAL_S = 0.2
SCHEDULE_INTERVAL_S = 0.25
RESCUE_INTERVAL_S = 1.0
PRUNE_INTERVAL_S = 60.0
# A look for minutes to roll up is one index lookup; a minute is rolled up within this
# long after it closes (plus the rollup's grace).
ROLLUP_INTERVAL_S = 5.0
RELAY_RETRY_S = 1.0
# A sweep reads back this far before the last one began: a job whose run_at an API's
# clock set up to a minute behind PostgreSQL's, or whose transaction took that long to
# commit, is still met.
RELAY_OVERLAP = timedelta(seconds=60)
# A confirmed bulk operation starts within this long; it then runs batch after batch
# (polled, one cheap indexed read: an idle leader costs PostgreSQL half a query a second).
BULK_INTERVAL_S = 2.0
# How long a term's end waits for its cancelled duty loops (see _ended).
DUTY_STOP_S = 3.0
# Server-side keepalives on the lock connection: a leader whose host vanished loses
# the lock after about idle + interval * count seconds.
KEEPALIVES = {"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "3"}


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


async def _close(conn: asyncpg.Connection | None) -> None:
    """Close `conn` (releasing any lock it holds), best effort."""
    if conn is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(), 5)


async def _ended(tasks: list[asyncio.Task[Any]]) -> None:
    """Wait for the cancelled duty loops, for up to DUTY_STOP_S; log where any still is.

    A cancelled query waits for PostgreSQL to confirm the cancel before its connection
    goes back to the pool; on a loaded server that can take seconds, and the term must
    still end in bounded time (the lock connection is closed next, which releases it).
    """
    _, pending = await asyncio.wait(tasks, timeout=DUTY_STOP_S)
    for task in pending:
        where = io.StringIO()
        task.print_stack(file=where)
        log.warning("%s was still stopping after %.0fs; leaving it. %s", task.get_name(), DUTY_STOP_S, where.getvalue())


class Leadership:
    """Campaigns for the leader lock and runs the duties while holding it."""

    def __init__(self, settings: WorkerServiceSettings, worker_id: str, pool: asyncpg.Pool, duties: Duties) -> None:
        self.settings, self.worker_id, self.pool, self.duties = settings, worker_id, pool, duties
        self.is_leader = False

    async def run(self, stop: asyncio.Event) -> None:
        """Campaign until `stop` is set.

        A standby keeps its campaign connection and asks for the lock on it each
        interval: connecting anew every second cost PostgreSQL a backend start per
        standby worker per second. The connection is replaced when it fails, and closed
        when a term as leader ends (which releases the lock for certain).
        """
        conn: asyncpg.Connection | None = None
        try:
            while not stop.is_set():
                try:
                    if conn is None or conn.is_closed():
                        conn = await asyncpg.connect(
                            self.settings.database_url.get_secret_value(), server_settings=KEEPALIVES, timeout=5
                        )
                    # A timeout: a kept connection whose server vanished silently would
                    # otherwise wait out TCP's retransmissions (minutes) before failing.
                    if await conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK_KEY, timeout=5):
                        try:
                            await self._lead(conn, stop)
                        finally:
                            await _close(conn)
                            conn = None
                    else:
                        await _wait(stop, ELECTION_INTERVAL_S)
                except _RETRYABLE as exc:
                    log.warning("leader election: PostgreSQL unavailable (%s)", type(exc).__name__)
                    await _close(conn)
                    conn = None
                    await _wait(stop, ELECTION_INTERVAL_S)
        finally:
            await _close(conn)

    async def _lead(self, conn: asyncpg.Connection, stop: asyncio.Event) -> None:
        log.info("worker %s is the leader", self.worker_id)
        self.is_leader = True
        elected = time.monotonic()
        wake_relay = asyncio.Event()
        wake_relay.set()  # a new leader sweeps once at once

        def on_notify(*_: Any) -> None:
            wake_relay.set()

        await conn.add_listener(NEW_JOBS_CHANNEL, on_notify)
        with contextlib.suppress(Exception):
            await self.pool.execute(Q["set_leader"], self.worker_id, True)

        async def rescue() -> None:
            # Judge heartbeats only after watching them for a full timeout as leader: right
            # after an outage every heartbeat is old, and none of those workers is dead.
            if time.monotonic() - elected >= self.settings.worker_timeout_s:
                await self.duties.rescue()

        loops = {
            "lock": self._keep_lock(conn),
            "relay": self._relay(wake_relay),
            "promote": self._every("promote", PROMOTE_INTERVAL_S, self.duties.promote),
            "schedules": self._every("schedules", SCHEDULE_INTERVAL_S, self.duties.fire_schedules),
            "rescue": self._every("rescue", RESCUE_INTERVAL_S, rescue),
            "prune": self._every("prune", PRUNE_INTERVAL_S, self.duties.prune),
            "rollup": self._every("rollup", ROLLUP_INTERVAL_S, self.duties.roll_up),
            "bulk": self._every("bulk", BULK_INTERVAL_S, self.duties.bulk),
        }
        tasks = [asyncio.create_task(loop, name=f"leader duty {name}") for name, loop in loops.items()]
        stopped = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([*tasks, stopped], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopped and task.exception():
                    log.warning("leadership lost: %s", type(task.exception()).__name__)
        finally:
            for task in [*tasks, stopped]:
                task.cancel()
            await _ended(tasks)
            self.is_leader = False
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.pool.execute(Q["set_leader"], self.worker_id, False), 2)

    async def _keep_lock(self, conn: asyncpg.Connection) -> None:
        """Return (ending leadership) when the lock connection stops answering."""
        while True:
            await asyncio.sleep(LOCK_CHECK_INTERVAL_S)
            await asyncio.wait_for(conn.fetchval("SELECT 1"), 5)

    async def _every(self, name: str, interval_s: float, step: Callable[[], Awaitable[Any]]) -> None:
        while True:
            await self._step(name, step)
            await asyncio.sleep(interval_s)

    async def _step(self, name: str, step: Callable[[], Awaitable[Any]]) -> bool:
        """Run one step; a failure is logged, and the loop goes on."""
        try:
            await step()
            return True
        except UnavailableError as exc:
            log.warning("%s: %s", name, exc.message)
        except Exception:
            log.exception("%s failed", name)
        return False

    async def _relay(self, wake: asyncio.Event) -> None:
        """Sweep on wake-ups (NOTIFY, Redis emptied) and every `relay_sweep_s` seconds.

        A sweep reads the queued jobs put to wait since the last good one began, less
        RELAY_OVERLAP: its cost follows what arrived, not the backlog (a million jobs
        waiting are not read every 30 s). Every queued job is read by the term's first
        sweep, the one after a failed sweep (Redis or PostgreSQL was away: what they missed
        may be older), the one after Redis lost its data, and every `relay_full_sweep_s`:
        a message Redis lost some other way is sent again within that.
        """
        last_sweep = time.monotonic()
        last_full = -math.inf
        swept_from: datetime | None = None  # PostgreSQL's time when the last good sweep began

        async def sweep() -> None:
            nonlocal swept_from, last_full
            full = swept_from is None or last_sweep - last_full >= self.settings.relay_full_sweep_s
            since = EVERY_QUEUED_JOB if full or swept_from is None else swept_from - RELAY_OVERLAP
            swept_from = None  # until this sweep has succeeded
            swept_from = await self.duties.relay(since)
            if full:
                last_full = last_sweep

        while True:
            try:
                if await self.duties.redis_was_emptied():
                    log.warning("Redis lost its data: sending every queued job again")
                    swept_from = None
                    wake.set()
            except UnavailableError:
                pass
            if wake.is_set() or time.monotonic() - last_sweep >= self.settings.relay_sweep_s:
                wake.clear()
                last_sweep = time.monotonic()
                if not await self._step("relay", sweep):
                    wake.set()  # try again after a pause
                    await asyncio.sleep(RELAY_RETRY_S)
            await asyncio.sleep(0.05)  # coalesce a burst of notifications into one sweep
            await _wait(wake, 1.0)
