"""The images `make images` builds without Docker (buildah on Debian bases): what a cluster
runs from them works.

The service images import their stack on the Debian base's Python (the one the locks
are resolved for) and their entry points start; the api carries the dashboard built on the Node
base; PostgreSQL creates the chart's user and database on first start and asks TCP
clients for the password; Redis asks for its password. Each OCI archive names its image.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import tarfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis

from tools.images.bases import BASES, DEBIAN_PYTHON, POSTGRESQL_MAJOR
from tools.images.build import IMAGES, local_ref
from tools.images.buildah import Buildah, clean_environment
from tools.images.node import NODE_VERSION, NPM

pytestmark = pytest.mark.timeout(180)

SERVICES = ["api", "worker", "operator"]
# The imports each service needs at start-up: its own package and the drivers.
SERVICE_IMPORTS = {
    "api": "import jobq_api.__main__, fastapi, uvicorn, asyncpg, redis.asyncio",
    "worker": "import jobq_worker.__main__, asyncpg, redis.asyncio",
    "operator": "import jobq_operator.__main__, kopf, asyncpg, redis.asyncio",
}
STARTUP_DEADLINE_S = 60


def config_of(buildah: Buildah, ref: str) -> dict[str, Any]:
    return dict(buildah.image_config(local_ref(ref))["config"])


def env_of(config: dict[str, Any]) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in config.get("Env", []))


def run(buildah: Buildah, ref: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    with buildah.working_container(local_ref(ref)) as container:
        return buildah.run_in(container, argv)


def free_port() -> int:
    """A TCP port nothing listens on now (the builds' chroot isolation shares the host's network)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(buildah: Buildah, container: str, argv: list[str], env: dict[str, str]) -> Iterator[list[str]]:
    """Run `argv` in a working container in the background; yields a list that gets the server's output when it stops.

    The output is also printed (pytest shows it for a failed test).
    """
    process = subprocess.Popen(
        buildah.run_command(container, argv, env),
        env=clean_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    try:
        yield output
    finally:
        # The server runs in this process's own session: stop exactly that group.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            text, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            text, _ = process.communicate(timeout=30)
        output.append(text)
        print(text)


def wait_for(check: Callable[[], None], what: str) -> None:
    """Poll `check()` until it stops raising, within the start-up deadline."""
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while True:
        try:
            check()
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} within {STARTUP_DEADLINE_S} s: {exc!r}") from exc
            time.sleep(0.5)


def test_every_image_has_an_archive_naming_it(archives: dict[str, Path]) -> None:
    assert set(archives) == {f"localhost/{image.ref}" for image in IMAGES}
    for name, archive in archives.items():
        with tarfile.open(archive) as oci:
            index = json.load(oci.extractfile("index.json"))  # type: ignore[arg-type]
        names = [manifest["annotations"]["org.opencontainers.image.ref.name"] for manifest in index["manifests"]]
        # Fully named: containerd keeps a short name as it is, which no pod would find.
        assert names == [name], f"{archive.name} names {names}: containerd would import it under another name"


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_image_runs_its_module_as_the_numeric_non_root_user(buildah: Buildah, service: str) -> None:
    config = config_of(buildah, f"jobq-{service}:dev")
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["python", "-m", f"jobq_{service}"]
    env = env_of(config)
    assert env["PATH"].startswith("/venv/bin:")
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_image_imports_its_stack_on_the_python_the_locks_are_for(buildah: Buildah, service: str) -> None:
    script = f"{SERVICE_IMPORTS[service]}; import platform; print(platform.python_version())"
    result = run(buildah, f"jobq-{service}:dev", ["python", "-c", script])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == DEBIAN_PYTHON


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_image_starts_and_names_the_setting_it_lacks(buildah: Buildah, service: str) -> None:
    config = config_of(buildah, f"jobq-{service}:dev")
    result = run(buildah, f"jobq-{service}:dev", config["Entrypoint"])
    assert result.returncode == 2, result.stdout + result.stderr
    assert re.match(rf"jobq-{service}: JOBQ_[A-Z_]+ is required", result.stderr), result.stderr


def test_the_api_image_carries_the_dashboard_built_on_the_node_base(buildah: Buildah) -> None:
    dashboard = env_of(config_of(buildah, "jobq-api:dev"))["JOBQ_DASHBOARD_DIR"]
    result = run(buildah, "jobq-api:dev", ["python", "-c", f"print(open('{dashboard}/index.html').read())"])
    assert result.returncode == 0, result.stderr
    assert "<html" in result.stdout.lower()
    with buildah.working_container(BASES["node"].ref()) as container:
        versions = buildah.run_in(container, ["sh", "-c", "node --version && npm --version"])
    assert versions.returncode == 0, versions.stderr
    assert versions.stdout.split() == [f"v{NODE_VERSION}", NPM.version]


def test_the_postgresql_image_creates_the_users_database_and_asks_tcp_clients_for_the_password(
    buildah: Buildah,
) -> None:
    ref = f"jobq-postgresql:{POSTGRESQL_MAJOR}"
    config = config_of(buildah, ref)
    assert config["User"] == "999:999", "the chart runs PostgreSQL as 999 (runAsNonRoot)"
    assert env_of(config)["PGDATA"] == "/var/lib/postgresql/data/pgdata"
    version = run(buildah, ref, ["postgres", "--version"])
    assert f") {POSTGRESQL_MAJOR}." in version.stdout, "the tag says the major version inside"

    port, password = free_port(), uuid.uuid4().hex
    env = {"POSTGRES_USER": "jobq", "POSTGRES_PASSWORD": password, "POSTGRES_DB": "jobqdb"}
    # Loopback only: buildah's chroot isolation shares the machine's network.
    argv = [*config["Entrypoint"], "-c", f"port={port}", "-c", "listen_addresses=127.0.0.1"]
    # The chart's readiness probe, run inside the container as the chart runs it.
    probe = ["pg_isready", "-h", "127.0.0.1", "-p", str(port), "-U", "jobq", "-d", "jobqdb"]
    url = f"postgresql://jobq:{password}@127.0.0.1:{port}/jobqdb"

    def ready() -> None:
        result = buildah.run_in(container, probe)
        assert result.returncode == 0, result.stdout

    with buildah.working_container(local_ref(ref)) as container:
        with serving(buildah, container, argv, env) as first_start:
            wait_for(ready, "pg_isready answers")
            assert asyncio.run(fetch_current(url)) == ("jobq", "jobqdb")
            with pytest.raises(asyncpg.InvalidPasswordError):
                asyncio.run(fetch_current(f"postgresql://jobq:wrong@127.0.0.1:{port}/jobqdb"))
            hba = buildah.run_in(container, ["sh", "-c", 'cat "$PGDATA/pg_hba.conf"'])
            assert "host all all all scram-sha-256" in hba.stdout.splitlines(), (
                "clients in other pods need the password"
            )
        assert "created the cluster" in first_start[0]
        # A restarted pod keeps its volume: the cluster is reused, not made again.
        with serving(buildah, container, argv, {**env, "POSTGRES_PASSWORD": "ignored"}) as second_start:
            wait_for(ready, "pg_isready answers after a restart")
            assert asyncio.run(fetch_current(url)) == ("jobq", "jobqdb")
        assert "created the cluster" not in second_start[0]


async def fetch_current(url: str) -> tuple[str, str]:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        row = await connection.fetchrow("SELECT current_user, current_database()")
        assert row is not None
        return str(row[0]), str(row[1])
    finally:
        await connection.close()


def test_the_redis_image_runs_the_charts_command_line_and_asks_for_the_password(buildah: Buildah) -> None:
    ref = "jobq-redis:7.0"
    config = config_of(buildah, ref)
    assert config["User"] == "999:999", "the chart runs Redis as 999 (runAsNonRoot)"
    version = run(buildah, ref, ["redis-server", "--version"])
    assert " v=7.0." in version.stdout, "the tag says the version inside"

    port, password = free_port(), uuid.uuid4().hex
    # The chart's args, on a free port.
    argv = ["redis-server", "--requirepass", password, "--appendonly", "yes", "--dir", "/data", "--port", str(port)]
    argv += ["--bind", "127.0.0.1"]  # loopback only: the chroot shares the machine's network
    with buildah.working_container(local_ref(ref)) as container, serving(buildah, container, argv, {}):
        # The chart's probe: redis-cli reads the password from REDISCLI_AUTH.
        probe = ["redis-cli", "-p", str(port), "ping"]

        def ready() -> None:
            result = buildah.run_in(container, probe, env={"REDISCLI_AUTH": password})
            assert result.stdout.strip() == "PONG", result.stdout + result.stderr

        wait_for(ready, "redis-cli ping answers PONG")
        with redis.Redis(port=port, password=password) as client:
            assert client.ping()
        with redis.Redis(port=port, password="wrong") as client, pytest.raises(redis.AuthenticationError):
            client.ping()


def test_the_api_image_migrates_and_serves_on_the_bundled_servers_images(buildah: Buildah) -> None:
    """The chart's order: PostgreSQL and Redis up, the migration Job, then the api answers /readyz and /ui/."""
    pg_port, redis_port, api_port = free_port(), free_port(), free_port()
    password = uuid.uuid4().hex
    pg_env = {"POSTGRES_USER": "jobq", "POSTGRES_PASSWORD": password, "POSTGRES_DB": "jobq"}
    jobq_env = {
        "JOBQ_DATABASE_URL": f"postgresql://jobq:{password}@127.0.0.1:{pg_port}/jobq",
        "JOBQ_REDIS_URL": f"redis://:{password}@127.0.0.1:{redis_port}/0",
        "JOBQ_HOST": "127.0.0.1",
        "JOBQ_PORT": str(api_port),
    }
    pg_argv = [
        *config_of(buildah, f"jobq-postgresql:{POSTGRESQL_MAJOR}")["Entrypoint"],
        "-c",
        f"port={pg_port}",
        "-c",
        "listen_addresses=127.0.0.1",
    ]
    redis_argv = ["redis-server", "--requirepass", password, "--port", str(redis_port), "--dir", "/data"]
    redis_argv += ["--bind", "127.0.0.1"]
    with ExitStack() as stack:
        pg = stack.enter_context(buildah.working_container(local_ref(f"jobq-postgresql:{POSTGRESQL_MAJOR}")))
        stack.enter_context(serving(buildah, pg, pg_argv, pg_env))
        cache = stack.enter_context(buildah.working_container(local_ref("jobq-redis:7.0")))
        stack.enter_context(serving(buildah, cache, redis_argv, {}))
        api = stack.enter_context(buildah.working_container(local_ref("jobq-api:dev")))

        def migrated() -> None:
            result = buildah.run_in(api, ["python", "-m", "jobq_core.cli", "migrate"], env=jobq_env)
            assert result.returncode == 0, result.stdout + result.stderr

        wait_for(migrated, "the migration (the chart's Job command) succeeds")
        stack.enter_context(serving(buildah, api, config_of(buildah, "jobq-api:dev")["Entrypoint"], jobq_env))

        def ready() -> None:
            with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/readyz", timeout=5) as response:
                assert response.status == 200

        wait_for(ready, "the api answers /readyz")
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/ui/", timeout=5) as response:
            assert "<html" in response.read().decode().lower(), "the dashboard is served"
