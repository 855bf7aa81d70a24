"""The /metrics and /healthz endpoints as processes serve them: the worker's own small
server, a taken port, and the API's metrics summed over several processes."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
from jobq_devrun.servers import free_port

from jobq_core.pg import apikeys
from jobq_core.pg.apikeys import Scope
from tests.conftest import Servers
from tests.observability.conftest import Stack
from tests.observability.test_metric_counts import parse, value
from tests.support.jobtypes import register_builtin_types
from tests.support.processes import service_env
from tests.support.wait import until


async def test_the_worker_serves_metrics_and_health_and_nothing_else(stack: Stack) -> None:
    metrics_url = stack.worker_metrics_urls[0]
    base = metrics_url.removesuffix("/metrics")
    async with httpx.AsyncClient(timeout=5) as client:
        health = await client.get(base + "/healthz")
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "ok" and body["draining"] is False and body["running"] == 0
        assert 0 <= body["heartbeat_age_s"] < 5 and body["worker_id"]
        ready = await client.get(base + "/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        assert (await client.get(base + "/nope")).status_code == 404
        assert (await client.post(base + "/metrics")).status_code == 405
        head = await client.head(metrics_url)
        assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 1000
        openmetrics = await client.get(metrics_url, headers={"Accept": "application/openmetrics-text"})
        assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
        assert openmetrics.text.endswith("# EOF\n")
        # The API's page needs no key, like the probes.
        assert (await client.get(stack.api_url + "/metrics")).status_code == 200


def test_a_taken_metrics_port_stops_the_worker_with_one_line_naming_the_setting(
    servers: Servers, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = service_env(
            servers.database_url,
            servers.redis_url,
            JOBQ_WORKER_METRICS_HOST="127.0.0.1",
            JOBQ_WORKER_METRICS_PORT=str(port),
        )
        result = subprocess.run(
            [sys.executable, "-m", "jobq_worker"], env=env, capture_output=True, text=True, timeout=60, check=False
        )
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("jobq-worker: JOBQ_WORKER_METRICS_PORT: cannot listen on 127.0.0.1:")
    assert "or 0 to disable" in last


async def test_an_api_of_several_processes_counts_every_request_once(
    servers: Servers, db: asyncpg.Pool, tmp_path: Path
) -> None:
    """uvicorn --workers 2 with PROMETHEUS_MULTIPROC_DIR: any process's /metrics shows the sum."""
    multiproc = tmp_path / "prometheus-multiproc"
    multiproc.mkdir()
    port = free_port()
    env = service_env(servers.database_url, servers.redis_url, PROMETHEUS_MULTIPROC_DIR=str(multiproc))
    log = tmp_path / "api.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "--factory", "jobq_api.app:create_app", "--workers", "2"),
                *("--host", "127.0.0.1", "--port", str(port), "--no-access-log"),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        await register_builtin_types(db)  # the built-in job types, as a worker registers them
        key = await apikeys.create(db, "multiprocess", [Scope.JOBS_WRITE])
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:

            async def ready() -> bool:
                assert process.poll() is None, log.read_text()
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await until(ready, timeout_s=30, what="the API processes")
            # New connections, until the kernel has handed some to each process.
            submitted = 0
            while submitted < 400 and (submitted < 20 or len(set(multiproc.glob("counter_*.db"))) < 2):
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as fresh:
                    response = await fresh.post(
                        "/v1/jobs", json={"type": "jobq.noop"}, headers={"Authorization": f"Bearer {key}"}
                    )
                    assert response.status_code == 201, response.text
                submitted += 1
            pids = {p.name.split("_")[-1] for p in multiproc.glob("counter_*.db")}
            assert len(pids) == 2, f"one process served all {submitted} requests: {pids}"
            for _ in range(6):  # whichever process answers, the totals are the same
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as fresh:
                    samples = parse((await fresh.get("/metrics")).text)
                assert value(samples, "jobq_jobs_submitted_total", type="jobq.noop", queue="default") == submitted
                posted = value(samples, "jobq_api_requests_total", route="/v1/jobs", method="POST", status="201")
                assert posted == submitted
                await asyncio.sleep(0)
    finally:
        process.terminate()
        process.wait(30)
