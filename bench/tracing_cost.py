"""What tracing costs: end-to-end throughput with traces off, then on (exported over OTLP/HTTP).

One PostgreSQL and one Redis serve the whole run. Each turn starts the API and the
workers afresh, with no OTEL_* variables ("off") or exporting every span to a local
OTLP/HTTP receiver ("on"), submits the jobs, waits until every one succeeded, and
stops the processes. Off and on alternate, so slow drifts of a shared machine hit both.
Two workloads: jobs submitted in batches (the worker's process span dominates), and a
third as many jobs submitted one request each (adds the server and publish spans per
job). The receiver counts what arrived after the processes stopped (their last spans
flush at exit), so a run that dropped spans shows it.

    python -m bench.tracing_cost --jobs 3000 --rounds 3

Writes bench/results/tracing_cost.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from jobq_devrun.servers import LocalServer, free_port, start_postgres, start_redis
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from jobq_core.pg import apikeys
from jobq_core.pg.migrate import migrate_url

RESULTS = Path(__file__).parent / "results"


class _Collector(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        count = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        with self.server.lock:
            self.server.spans += count
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP endpoint on loopback that counts the spans it is sent."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Collector)
        self.spans = 0
        self.lock = threading.Lock()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _turn(
    pg: LocalServer, rd: LocalServer, key: str, workload: str, jobs: int, workers: int, receiver: _Receiver | None
) -> dict[str, Any]:
    """Start the services, run `workload`, stop them; return what was measured."""
    conn = await asyncpg.connect(pg.url)
    await conn.execute("TRUNCATE jobq_job_attempts, jobq_jobs, jobq_workers")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOBQ_", "OTEL_"))}
    env.update(
        JOBQ_DATABASE_URL=pg.url,
        JOBQ_REDIS_URL=rd.url,
        JOBQ_HOST="127.0.0.1",
        JOBQ_PORT=str(port),
        JOBQ_CONCURRENCY="50",
        JOBQ_DEMO_HANDLERS="true",
        JOBQ_LOG_LEVEL="WARNING",
        JOBQ_LOG_FORMAT="json",
        JOBQ_WORKER_METRICS_PORT="0",  # several workers on one host
    )
    spans_before = 0
    if receiver is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{receiver.server_address[1]}"
        spans_before = receiver.spans
    procs = [subprocess.Popen([sys.executable, "-m", "jobq_api"], env=env)]
    procs += [subprocess.Popen([sys.executable, "-m", "jobq_worker"], env=env) for _ in range(workers)]
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the API did not become ready")
                await asyncio.sleep(0.1)
            while await conn.fetchval("SELECT count(*) FROM jobq_workers WHERE stopped_at IS NULL") < workers:
                await asyncio.sleep(0.05)
            cpu_before = {p.pid: _cpu_seconds(p.pid) for p in procs}
            started = time.perf_counter()
            if workload == "batch":
                for offset in range(0, jobs, 500):
                    body = {"jobs": [{"type": "jobq.noop"} for _ in range(min(500, jobs - offset))]}
                    (await client.post("/v1/jobs/batch", json=body)).raise_for_status()
            else:
                sem = asyncio.Semaphore(16)

                async def one(i: int) -> None:
                    # A keep-alive connection the server closes as it is reused fails the
                    # request; the idempotency key makes sending it again safe.
                    body = {"type": "jobq.noop", "idempotency_key": f"bench-{started}-{i}"}
                    async with sem:
                        for attempt in range(3):
                            try:
                                (await client.post("/v1/jobs", json=body)).raise_for_status()
                                return
                            except httpx.TransportError:
                                if attempt == 2:
                                    raise

                await asyncio.gather(*(one(i) for i in range(jobs)))
            while await conn.fetchval("SELECT count(*) FROM jobq_jobs WHERE status = 'succeeded'") < jobs:
                await asyncio.sleep(0.02)
            elapsed = time.perf_counter() - started
            cpu = {p.pid: _cpu_seconds(p.pid) - cpu_before[p.pid] for p in procs}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(60)
        await conn.close()
    result: dict[str, Any] = {
        "jobs_per_s": round(jobs / elapsed, 1),
        "elapsed_s": round(elapsed, 3),
        "cpu_ms_per_job": {
            "api": round(cpu[procs[0].pid] / jobs * 1000, 3),
            "workers": round(sum(cpu[p.pid] for p in procs[1:]) / jobs * 1000, 3),
        },
    }
    if receiver is not None:
        # Spans per job: the process span, plus server and publish spans per request.
        requests = -(-jobs // 500) if workload == "batch" else jobs
        with receiver.lock:
            result["spans_received"] = receiver.spans - spans_before
        result["spans_expected_at_least"] = jobs + 2 * requests
    return result


async def run(jobs: int, rounds: int, workers: int, workloads: list[str]) -> dict[str, Any]:
    """Every workload, off and on alternately, `rounds` times; the summary document."""
    receiver = _Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    turns: dict[str, dict[str, list[dict[str, Any]]]] = {w: {"off": [], "on": []} for w in workloads}
    with tempfile.TemporaryDirectory(prefix="jobq-bench-tracing-") as tmp:
        pg = start_postgres(Path(tmp) / "pg", durable=True)
        rd = start_redis(Path(tmp) / "redis")
        try:
            await migrate_url(pg.url)
            conn = await asyncpg.connect(pg.url)
            key = await apikeys.create(conn, "bench", [apikeys.Scope.ADMIN])
            await conn.close()
            for r in range(rounds):
                for workload in workloads:
                    modes = ("off", "on") if r % 2 == 0 else ("on", "off")
                    count = jobs if workload == "batch" else max(1, jobs // 3)
                    for mode in modes:
                        result = await _turn(pg, rd, key, workload, count, workers, receiver if mode == "on" else None)
                        turns[workload][mode].append(result)
                        print(f"round {r + 1} {workload:6} {mode:3} {json.dumps(result)}", flush=True)
        finally:
            receiver.shutdown()
            rd.stop()
            pg.stop()
    summary: dict[str, Any] = {}
    for workload, by_mode in turns.items():
        off = statistics.median(t["jobs_per_s"] for t in by_mode["off"])
        on = statistics.median(t["jobs_per_s"] for t in by_mode["on"])
        summary[workload] = {
            "median_jobs_per_s_off": off,
            "median_jobs_per_s_on": on,
            "on_over_off": round(on / off, 3),
            "median_cpu_ms_per_job": {
                f"{who}_{mode}": statistics.median(t["cpu_ms_per_job"][who] for t in by_mode[mode])
                for who in ("api", "workers")
                for mode in ("off", "on")
            },
            "turns": by_mode,
        }
    return {
        "scenario": "jobq.noop jobs submitted then drained; tracing off vs on (OTLP/HTTP to a local receiver)",
        "jobs_per_turn": {"batch": jobs, "single": max(1, jobs // 3)},
        "rounds": rounds,
        "workers": workers,
        "concurrency_per_worker": 50,
        "workloads": {
            "batch": "POST /v1/jobs/batch, 500 jobs a request",
            "single": "POST /v1/jobs with an idempotency key, 16 in flight",
        },
        "results": summary,
        "note": "measured on a shared machine with other work running: expect noise of several percent",
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
    }


def main() -> None:
    """Parse arguments, run, print and save the result."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workloads", default="batch,single")
    parser.add_argument("--out", type=Path, default=RESULTS / "tracing_cost.json")
    args = parser.parse_args()
    result = asyncio.run(run(args.jobs, args.rounds, args.workers, args.workloads.split(",")))
    text = json.dumps(result, indent=2)
    print(json.dumps({w: {k: v for k, v in s.items() if k != "turns"} for w, s in result["results"].items()}, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
