"""What every system's bench program shares: the record of finished jobs, and the scenarios.

This module runs inside each system's own virtual environment, so it imports only the
standard library and ``redis`` (which every one of them has).

A *record* is one finished job: its index ``i`` (given at submit), when its handler
started and ended (``time.time()``, one clock for every process on the machine) and
the attempt that succeeded. ARQ, Celery and SAQ handlers append records in memory and a
flusher pushes them to one Redis list in batches (one RPUSH per 10 ms at most, nothing
at idle). jobq's records are its own rows in PostgreSQL.

A scenario's client runs as one process: it connects, prints ``READY``, waits for ``GO``
on standard input (so the harness can read every component's CPU counters around the
measured part only), runs, and prints one JSON line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

RECORDS_KEY = "bench:done"
READY_PREFIX = "bench:ready:"
FLUSH_INTERVAL_S = 0.01
FLAKY_EVERY = 10  # scenario 5: job i fails twice, then succeeds, when i % FLAKY_EVERY == 0
FLAKY_FAILURES = 2
WAIT_POLL_S = 0.01


def redis_url() -> str:
    """The Redis the harness started (BENCH_REDIS_URL)."""
    url = os.environ.get("BENCH_REDIS_URL", "")
    if not url.startswith("redis://"):
        raise SystemExit(f"BENCH_REDIS_URL must be a redis:// URL, got {url!r}")
    return url


def concurrency() -> int:
    """Jobs run at once per worker process (BENCH_CONCURRENCY)."""
    value = os.environ.get("BENCH_CONCURRENCY", "100")
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"BENCH_CONCURRENCY must be a positive integer, got {value!r}")
    return int(value)


def is_flaky(i: int, mixed: bool) -> bool:
    """Whether job `i` of a scenario fails twice before it succeeds."""
    return mixed and i % FLAKY_EVERY == 0


def fails_now(flaky: bool, attempt: int) -> bool:
    """Whether a flaky job's handler fails on this (1-based) attempt."""
    return flaky and attempt <= FLAKY_FAILURES


# -- the worker side: records ----------------------------------------------------------


class Recorder:
    """Records finished jobs in memory; :meth:`flush_forever` or a thread ships them to Redis."""

    def __init__(self) -> None:
        self._items: list[str] = []
        self._lock = threading.Lock()

    def add(self, run: str, i: int, started: float, attempt: int) -> None:
        """Record job `i` of scenario run `run` finishing now, its handler having started at `started`."""
        item = f"{run} {i} {started:.6f} {time.time():.6f} {attempt}"
        with self._lock:
            self._items.append(item)

    def take(self) -> list[str]:
        """Everything recorded since the last call."""
        with self._lock:
            items, self._items = self._items, []
        return items

    async def flush_forever(self, redis: Any) -> None:
        """Push records to Redis every FLUSH_INTERVAL_S (asyncio workers)."""
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            items = self.take()
            if items:
                await redis.rpush(RECORDS_KEY, *items)

    def start_thread(self, url: str) -> None:
        """Push records from a daemon thread (threaded workers: Celery)."""
        import redis

        client = redis.Redis.from_url(url)

        def loop() -> None:
            while True:
                time.sleep(FLUSH_INTERVAL_S)
                items = self.take()
                if items:
                    client.rpush(RECORDS_KEY, *items)

        threading.Thread(target=loop, name="bench-recorder", daemon=True).start()


def mark_ready_sync(url: str) -> None:
    """Tell the harness this worker process is consuming."""
    import redis

    redis.Redis.from_url(url).set(f"{READY_PREFIX}{os.getpid()}", "1")


# -- the client side ----------------------------------------------------------------------


@dataclass
class Record:
    """One finished job as the client reads it back."""

    i: int
    started: float
    ended: float
    attempt: int
    current: bool = True  # False: a job of an earlier scenario that ran (again) meanwhile


class Client(Protocol):
    """What a system's client does for the scenarios."""

    async def setup(self) -> None:
        """Connect."""

    async def close(self) -> None:
        """Disconnect."""

    async def reset(self, scenario: str) -> None:
        """Forget the records of earlier scenarios."""

    async def submit(self, i: int, kind: str) -> None:
        """Submit one job; returns when the system accepted it. `kind`: noop, stamp or flaky."""

    async def submit_many(self, items: Sequence[tuple[int, str]]) -> None:
        """Submit many jobs as fast as this system's ordinary client allows."""

    async def records(self, n: int, timeout_s: float) -> list[Record]:
        """Wait until `n` jobs finished (or the timeout passed); return their records."""

    async def check_mixed(self, n: int) -> dict[str, Any]:
        """System-specific correctness facts after scenario 5 (may be empty)."""


async def submit_concurrently(submit: Callable[[int, str], Awaitable[None]], items: Sequence[tuple[int, str]]) -> None:
    """Submit with up to 50 calls in flight: as fast as an asyncio client goes."""
    sem = asyncio.Semaphore(50)

    async def one(i: int, kind: str) -> None:
        async with sem:
            await submit(i, kind)

    await asyncio.gather(*(one(i, kind) for i, kind in items))


class RecordedClient:
    """The part shared by the clients whose workers push records to the Redis list
    (raw ARQ, Celery, SAQ): these systems keep no job history of their own to check."""

    recs: RedisRecords

    async def submit(self, i: int, kind: str) -> None:
        raise NotImplementedError

    async def submit_many(self, items: Sequence[tuple[int, str]]) -> None:
        """`submit` with up to 50 in flight."""
        await submit_concurrently(self.submit, items)

    async def records(self, n: int, timeout_s: float) -> list[Record]:
        """Records pushed by the workers."""
        return await self.recs.wait(n, timeout_s)

    async def check_mixed(self, n: int) -> dict[str, Any]:
        """Nothing beyond the records."""
        return {}


class RedisRecords:
    """Reads the records the workers pushed to the Redis list.

    Each scenario run has its own id, carried by its jobs: a record with another id is a
    job of an earlier scenario that ran again after that scenario had all its records.
    """

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self.run = "none"

    async def reset(self) -> None:
        """Drop old records; a new run id."""
        await self.redis.delete(RECORDS_KEY)
        self.run = os.urandom(4).hex()

    async def _read(self) -> list[Record]:
        out = []
        for raw in await self.redis.lrange(RECORDS_KEY, 0, -1):
            run, i, started, ended, attempt = (raw.decode() if isinstance(raw, bytes) else raw).split()
            out.append(Record(int(i), float(started), float(ended), int(attempt), run == self.run))
        return out

    async def wait(self, n: int, timeout_s: float) -> list[Record]:
        """Poll until `n` records of this run arrived or the time is up."""
        deadline = time.monotonic() + timeout_s
        others = 0
        while time.monotonic() < deadline:
            if await self.redis.llen(RECORDS_KEY) >= n + others:
                records = await self._read()
                current = sum(r.current for r in records)
                if current >= n:
                    return records
                others = len(records) - current
            await asyncio.sleep(WAIT_POLL_S)
        return await self._read()


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p95, p99 and max of `values`, in milliseconds (nearest rank)."""
    if not values:
        return {}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))] * 1000

    return {
        "p50_ms": rank(50),
        "p95_ms": rank(95),
        "p99_ms": rank(99),
        "max_ms": ordered[-1] * 1000,
        "n": len(ordered),
    }


def completeness(records: list[Record], n: int) -> dict[str, Any]:
    """Completeness facts; drops (in place) the records of earlier scenarios, counting them."""
    earlier = [r for r in records if not r.current]
    records[:] = [r for r in records if r.current]
    seen = {r.i for r in records}
    return {
        "finished": len(records),
        "unique": len(seen),
        "missing": n - len(seen & set(range(n))),
        "earlier_jobs_run_again": len(earlier),
    }


# -- scenarios ---------------------------------------------------------------------------


async def throughput(client: Client, spec: dict[str, Any]) -> dict[str, Any]:
    """Scenario 1: N no-op jobs as fast as possible; first submit to last completion."""
    n = spec["jobs"]
    await client.reset("throughput")
    t0 = time.time()
    await client.submit_many([(i, "noop") for i in range(n)])
    submitted = time.time()
    records = await client.records(n, spec["timeout_s"])
    result: dict[str, Any] = {"jobs": n, "submit_s": submitted - t0, **completeness(records, n)}
    if records:
        elapsed = max(r.ended for r in records) - t0
        result.update(elapsed_s=elapsed, jobs_per_s=n / elapsed if len(records) >= n else None)
        result["submit_jobs_per_s"] = n / (submitted - t0)
    return result


async def pickup(client: Client, spec: dict[str, Any]) -> dict[str, Any]:
    """Scenario 2: one job every `interval_s` into idle workers; handler start − submit accepted."""
    n, interval = spec["jobs"], spec["interval_s"]
    await client.reset("pickup")
    accepted: dict[int, float] = {}
    t0 = time.monotonic()
    for i in range(n):
        await asyncio.sleep(max(0.0, t0 + i * interval - time.monotonic()))
        await client.submit(i, "stamp")
        accepted[i] = time.time()
    records = await client.records(n, spec["timeout_s"])
    complete = completeness(records, n)
    latencies = [r.started - accepted[r.i] for r in records if r.i in accepted]
    return {"jobs": n, "interval_s": interval, **complete, **percentiles(latencies)}


async def load(client: Client, spec: dict[str, Any]) -> dict[str, Any]:
    """Scenario 3: a steady rate (open loop); submit start → completion."""
    rate, seconds = spec["rate"], spec["seconds"]
    n = max(1, int(rate * seconds))
    await client.reset("load")
    sent: dict[int, float] = {}
    tasks: list[asyncio.Task[None]] = []
    t0 = time.monotonic()
    for i in range(n):
        await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
        sent[i] = time.time()
        tasks.append(asyncio.create_task(client.submit(i, "stamp")))
    achieved = n / (time.monotonic() - t0)  # did the client keep the schedule?
    await asyncio.gather(*tasks)
    records = await client.records(n, spec["timeout_s"])
    complete = completeness(records, n)
    latencies = [r.ended - sent[r.i] for r in records if r.i in sent]
    return {"jobs": n, "rate": rate, "achieved_rate": achieved, **complete, **percentiles(latencies)}


async def mixed(client: Client, spec: dict[str, Any]) -> dict[str, Any]:
    """Scenario 5: 10% of jobs fail twice then succeed; throughput and correctness."""
    n = spec["jobs"]
    await client.reset("mixed")
    t0 = time.time()
    await client.submit_many([(i, "flaky" if is_flaky(i, True) else "noop") for i in range(n)])
    records = await client.records(n, spec["timeout_s"])
    result: dict[str, Any] = {"jobs": n, "flaky": sum(is_flaky(i, True) for i in range(n)), **completeness(records, n)}
    wrong_attempts = [r.i for r in records if r.attempt != (FLAKY_FAILURES + 1 if is_flaky(r.i, True) else 1)]
    result["wrong_attempts"] = len(wrong_attempts)
    result.update(await client.check_mixed(n))
    if records:
        elapsed = max(r.ended for r in records) - t0
        result.update(elapsed_s=elapsed, jobs_per_s=n / elapsed)
    result["correct"] = bool(
        result["finished"] == n and result["unique"] == n and not wrong_attempts and result.get("system_ok", True)
    )
    return result


SCENARIOS: dict[str, Callable[[Client, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    "throughput": throughput,
    "pickup": pickup,
    "load": load,
    "load_same": load,
    "mixed": mixed,
}


async def run_client(client: Client, argv: Sequence[str]) -> None:
    """`client <scenario> <spec json>`: connect, READY, wait for GO, run, print the result."""
    scenario, spec = argv[0], json.loads(argv[1])
    await client.setup()
    try:
        print("READY", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        runner = SCENARIOS.get(scenario) or getattr(client, f"scenario_{scenario}", None)
        if runner is None:
            raise SystemExit(f"unknown scenario {scenario!r}")
        result = await runner(client, spec) if scenario in SCENARIOS else await runner(spec)
    finally:
        with contextlib.suppress(Exception):
            await client.close()
    print(json.dumps(result), flush=True)


def run_async(main: Awaitable[None]) -> None:
    """Run a coroutine on uvloop where the environment has it (every system's does)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)  # type: ignore[arg-type]
    else:
        uvloop.run(main)  # type: ignore[arg-type]


def main(client_factory: Callable[[], Client], worker: Callable[[], None]) -> None:
    """Entry point of a system's bench program: `worker`, or `client <scenario> <spec>`."""
    if len(sys.argv) >= 2 and sys.argv[1] == "worker":
        worker()
    elif len(sys.argv) == 4 and sys.argv[1] == "client":
        run_async(run_client(client_factory(), sys.argv[2:]))
    else:
        raise SystemExit("usage: worker | client <scenario> <spec json>")
