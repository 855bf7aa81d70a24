"""The Postman collection (`make postman`) run by newman against a live stack: every request passes.

The stack is what `make run` gives: the API and a worker as processes on the suite's
PostgreSQL and Redis, and the mail catcher, so the collection's local-mail requests run too.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from jobq_devrun.servers import LOOPBACK, LocalServer, free_port, start_mail_catcher

from jobq_core.pg import apikeys
from jobq_core.pg.apikeys import Scope
from tests.conftest import Servers
from tests.support import processes
from tests.support.processes import service_env
from tests.support.wait import until
from tools.postman import COLLECTION, ENVIRONMENT, ROOT

NEWMAN = ROOT / "tools" / "newman" / "node_modules" / ".bin" / "newman"
NEWMAN_TIMEOUT_S = 90


@pytest.fixture
def catcher(tmp_path: Path) -> Iterator[LocalServer]:
    """The mail catcher `jobq run` starts, keeping messages under `tmp_path/mail`."""
    server = start_mail_catcher(tmp_path / "mail")
    yield server
    server.stop()


def requests_in(items: list[dict[str, Any]]) -> list[str]:
    """The names of the collection's requests, folders flattened, in the order newman runs them."""
    names: list[str] = []
    for item in items:
        names += requests_in(item["item"]) if "item" in item else [item["name"]]
    return names


def failures(report: dict[str, Any]) -> list[str]:
    """Every failed assertion, script error and request error newman reported, one line each."""
    lines = []
    for failure in report["run"]["failures"]:
        source, error = failure.get("source", {}).get("name", "?"), failure["error"]
        lines.append(f"{source}: {error.get('test') or error.get('name')}: {error.get('message')}")
    return lines


async def test_newman_runs_every_request_of_the_collection_and_every_assertion_passes(
    servers: Servers, db: asyncpg.Pool, catcher: LocalServer, tmp_path: Path
) -> None:
    if not NEWMAN.exists():
        pytest.fail(f"{NEWMAN.relative_to(ROOT)} is missing: run `make postman-deps`", pytrace=False)
    key = await apikeys.create(db, "postman", [Scope.ADMIN])
    worker_env = service_env(servers.database_url, servers.redis_url, JOBQ_SMTP_URL=catcher.url)
    worker = await processes.start_worker(db, worker_env, tmp_path / "worker.log")
    port = free_port()
    api_env = service_env(
        servers.database_url,
        servers.redis_url,
        JOBQ_HOST=LOOPBACK,
        JOBQ_PORT=str(port),
        JOBQ_LOCAL_MAIL_DIR=str(catcher.data_dir),  # as `jobq run` sets it: GET /v1/local/mail
        JOBQ_API_KEY_CACHE_S="0",  # the collection revokes a key it made
    )
    api = processes.start("jobq_api", api_env, tmp_path / "api.log")
    url = f"http://{LOOPBACK}:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as client:

            async def ready() -> bool:
                assert api.process.poll() is None, f"the API exited early:\n{api.log()}"
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await until(ready, timeout_s=30, what="the API to answer /readyz")
        report_path = tmp_path / "newman.json"
        command = [
            str(NEWMAN),
            "run",
            str(COLLECTION),
            "--environment",
            str(ENVIRONMENT),
            "--env-var",
            f"apiKey={key}",
            "--env-var",
            f"baseUrl={url}",
            "--reporters",
            "cli,json",
            "--reporter-json-export",
            str(report_path),
            "--timeout-request",
            "10000",
            "--color",
            "off",
            "--disable-unicode",
        ]
        newman = await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, timeout=NEWMAN_TIMEOUT_S, check=False
        )
        # newman's cli report pads each line to the terminal's width
        output = "\n".join(line.rstrip() for line in (newman.stdout + newman.stderr).splitlines()[-150:])
        assert report_path.exists(), f"newman wrote no report (exit {newman.returncode}):\n{output}"
        report = json.loads(report_path.read_text())
    finally:
        api_code = api.stop(signal.SIGTERM)
        worker_code = worker.stop(signal.SIGTERM)
    assert failures(report) == [], "\n".join(failures(report))
    assert newman.returncode == 0, output

    wanted = requests_in(json.loads(COLLECTION.read_text())["item"])
    # One execution per request sent: a request whose script sent more (a wait's polls) is listed again.
    executions = list({e["cursor"]["ref"]: e for e in report["run"]["executions"]}.values())
    assert [e["item"]["name"] for e in executions] == wanted, "newman ran other requests than the collection's"
    assert all("response" in e and "requestError" not in e for e in executions), output
    untested = [e["item"]["name"] for e in executions if not e.get("assertions")]
    assert untested == [], f"requests without a test: {untested}"
    stats = report["run"]["stats"]
    assert stats["items"] == {"total": len(wanted), "pending": 0, "failed": 0}
    assert stats["requests"]["failed"] == 0  # the collection's and those its scripts send (pm.sendRequest)
    assert stats["assertions"]["failed"] == 0 and stats["assertions"]["total"] >= 2 * len(wanted)
    assert stats["testScripts"]["failed"] == 0 and stats["prerequestScripts"]["failed"] == 0
    assert (api_code, worker_code) == (0, 0), f"API:\n{api.log()[-3000:]}\nworker:\n{worker.log()[-3000:]}"
