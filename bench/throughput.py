"""End-to-end throughput: N `jobq.noop` jobs through the batch endpoint, drained by W workers.

Starts its own PostgreSQL and Redis (from the wheels, durable settings as `make run`
uses), the API and the worker processes, then measures from the first submit to the
last completion. Prints a summary and writes it to bench/results/throughput.json.

    python -m bench.throughput --jobs 10000 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from jobq_core import apikeys
from jobq_core.localservers import free_port, start_postgres, start_redis
from jobq_core.migrate import migrate_url

RESULTS = Path(__file__).parent / "results"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


async def _wait_ready(client: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the API did not become ready")


async def run(jobs: int, workers: int, batch: int, concurrency: int, durable: bool = True) -> dict[str, Any]:
    """One measured run; returns the result document."""
    with tempfile.TemporaryDirectory(prefix="jobq-bench-") as tmp:
        pg = start_postgres(Path(tmp) / "pg", durable=durable)
        rd = start_redis(Path(tmp) / "redis")
        procs: list[subprocess.Popen[bytes]] = []
        try:
            await migrate_url(pg.url)
            conn = await asyncpg.connect(pg.url)
            key = await apikeys.create(conn, "bench", [apikeys.Scope.ADMIN])
            port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("JOBQ_")}
            env.update(
                JOBQ_DATABASE_URL=pg.url,
                JOBQ_REDIS_URL=rd.url,
                JOBQ_HOST="127.0.0.1",
                JOBQ_PORT=str(port),
                JOBQ_CONCURRENCY=str(concurrency),
                JOBQ_LOG_LEVEL="WARNING",
            )
            api = subprocess.Popen([sys.executable, "-m", "jobq_api"], env=env)
            worker_procs = [subprocess.Popen([sys.executable, "-m", "jobq_worker"], env=env) for _ in range(workers)]
            procs = [api, *worker_procs]
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}, timeout=60
            ) as client:
                await _wait_ready(client)
                while await conn.fetchval("SELECT count(*) FROM jobq_workers") < workers:
                    await asyncio.sleep(0.05)
                cpu_before = {p.pid: _cpu_seconds(p.pid) for p in procs}
                started = time.perf_counter()
                for offset in range(0, jobs, batch):
                    body = {"jobs": [{"type": "jobq.noop"} for _ in range(min(batch, jobs - offset))]}
                    response = await client.post("/v1/jobs/batch", json=body)
                    response.raise_for_status()
                submitted = time.perf_counter()
                while await conn.fetchval("SELECT count(*) FROM jobq_jobs WHERE status = 'succeeded'") < jobs:
                    await asyncio.sleep(0.02)
                finished = time.perf_counter()
                cpu = {p.pid: _cpu_seconds(p.pid) - cpu_before[p.pid] for p in procs}
            await conn.close()
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(30)
            rd.stop()
            pg.stop()
    elapsed = finished - started
    return {
        "scenario": "batch submit + drain of jobq.noop",
        "jobs": jobs,
        "workers": workers,
        "concurrency_per_worker": concurrency,
        "batch_size": batch,
        "postgres_durable": durable,
        "submit_s": round(submitted - started, 3),
        "elapsed_s": round(elapsed, 3),
        "jobs_per_s": round(jobs / elapsed, 1),
        "cpu_s_per_1000_jobs": {
            "api": round(cpu[procs[0].pid] / jobs * 1000, 3),
            "workers": round(sum(cpu[p.pid] for p in procs[1:]) / jobs * 1000, 3),
        },
        "machine": {"cores": os.cpu_count(), "cpu": _cpu_model(), "python": platform.python_version()},
    }


def main() -> None:
    """Parse arguments, run, print and save the result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--no-fsync", action="store_true", help="run PostgreSQL with fsync and synchronous_commit off")
    parser.add_argument("--out", type=Path, default=RESULTS / "throughput.json")
    args = parser.parse_args()
    result = asyncio.run(run(args.jobs, args.workers, args.batch, args.concurrency, durable=not args.no_fsync))
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
