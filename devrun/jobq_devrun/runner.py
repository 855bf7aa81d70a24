"""`jobq run`: everything on one machine, for trying jobq out and for the e2e tests.

Uses JOBQ_DATABASE_URL / JOBQ_REDIS_URL when set; otherwise starts PostgreSQL and
Redis from wheels with their data under ``--data-dir`` (it survives a restart). Without
JOBQ_SMTP_URL it starts a mail catcher (:mod:`jobq_devrun.mailcatcher`) that keeps every
message under ``--data-dir``/mail, points the workers at it and has the API list the
messages (`JOBQ_LOCAL_MAIL_DIR`: ``GET /v1/local/mail``). Then migrates, makes sure an
admin API key exists, and runs the API and the workers as child processes until Ctrl-C
or SIGTERM, when it stops them in order: API first, workers next (they drain), servers
last.

With ``JOBQ_AUTOSCALE=1`` the number of worker processes follows the queues, decided by
the same policy the Kubernetes operator uses (:mod:`jobq_core.model.autoscale`): workers start
when work waits, and idle ones are stopped first (SIGTERM: they drain) when it is gone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg

from jobq_core.names import DASHBOARD_PATH, ENV_PREFIX
from jobq_core.pg import apikeys
from jobq_core.pg.migrate import migrate_url
from jobq_core.settings import load

from .processes import wait_for_workers
from .scaler import LocalScaler
from .servers import LocalServer, die_with_parent, free_port, start_mail_catcher, start_postgres, start_redis
from .settings import AutoscaleSettings

# The dashboard's build in this checkout (`npm run build` in dashboard/); devrun runs from
# its source tree (an editable install), never from an image.
DASHBOARD_BUILD = Path(__file__).resolve().parents[2] / "dashboard" / "dist"
DASHBOARD_DIR_VAR = f"{ENV_PREFIX}DASHBOARD_DIR"
SMTP_URL_VAR = f"{ENV_PREFIX}SMTP_URL"
LOCAL_MAIL_DIR_VAR = f"{ENV_PREFIX}LOCAL_MAIL_DIR"
# What `jobq run` prints for a shell to export: the names the README's examples use.
API_URL_VAR = f"{ENV_PREFIX}API_URL"
API_KEY_VAR = f"{ENV_PREFIX}API_KEY"
# The dashboard's page of caught mail, and the API route behind it.
MAIL_PAGE = DASHBOARD_PATH + "/mail"
MAIL_ROUTE = "/v1/local/mail"


def export_line(values: dict[str, str]) -> str:
    """`export NAME=value …`: the line a user pastes into a shell (values quoted as need be)."""
    return "export " + " ".join(f"{name}={shlex.quote(value)}" for name, value in values.items())


def exported(line: str) -> dict[str, str]:
    """The variables an :func:`export_line` sets; {} for any other line."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        return {}
    if not words or words[0] != "export":
        return {}
    return dict(word.split("=", 1) for word in words[1:] if "=" in word)


def _shown(path: Path) -> str:
    """`path` as the user typed it most likely: relative to the working folder when under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def dashboard_dir(env: dict[str, str], build: Path = DASHBOARD_BUILD) -> str | None:
    """The folder the API should serve the dashboard from: `JOBQ_DASHBOARD_DIR` when set
    (empty: none), else the checkout's build when there is one."""
    if DASHBOARD_DIR_VAR in env:
        return env[DASHBOARD_DIR_VAR] or None
    return str(build) if (build / "index.html").is_file() else None


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


def with_arq_app(env: dict[str, str], settings: str | None) -> dict[str, str]:
    """`env` with the ARQ app `jobq run --arq` names (`JOBQ_ARQ_SETTINGS`) for every worker."""
    return {**env, f"{ENV_PREFIX}ARQ_SETTINGS": settings} if settings else env


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
    env = with_arq_app(dict(os.environ), getattr(args, "arq", None))
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
        mail_dir: Path | None = None
        if not env.get(SMTP_URL_VAR):
            mail = start_mail_catcher(data_dir / "mail", port=free_port())
            servers.append(mail)
            mail_dir = mail.data_dir
            env[SMTP_URL_VAR] = mail.url  # the workers send there
        asyncio.run(migrate_url(database_url))
        key = _admin_key(database_url, data_dir / "admin-key")

        port = args.port or free_port()
        env[f"{ENV_PREFIX}HOST"] = args.host
        env[f"{ENV_PREFIX}PORT"] = str(port)
        dashboard = dashboard_dir(env)
        api_env = {**env, DASHBOARD_DIR_VAR: dashboard} if dashboard else dict(env)
        if mail_dir is not None:
            api_env[LOCAL_MAIL_DIR_VAR] = str(mail_dir)  # GET /v1/local/mail lists what was caught
        api = _start_child("jobq_api", api_env)
        children.append(api)
        worker_ports: list[int] = []

        def start_worker() -> subprocess.Popen[bytes]:
            worker_ports.append(free_port())  # each worker's /metrics and /healthz on a port of its own
            worker_env = {
                f"{ENV_PREFIX}DEMO_HANDLERS": "true",  # jobq.sleep and friends, for trying jobq out
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
        asyncio.run(wait_for_workers(database_url, scaler.workers if scaler is not None else children[1:]))
        dashboard_line = f"  JOBQ_DASHBOARD_URL={api_url}{DASHBOARD_PATH}/\n" if dashboard else ""
        mail_line = ""
        if mail_dir is not None:
            where = api_url + (MAIL_PAGE if dashboard else MAIL_ROUTE)
            mail_line = f"  mail: caught, see {where} and {_shown(mail_dir)}/\n"
        print(
            f"\njobq is running.\n  {export_line({API_URL_VAR: api_url, API_KEY_VAR: key})}\n{dashboard_line}"
            f"  data: {data_dir}\n{mail_line}  try: curl -H 'Authorization: Bearer {key}' {api_url}/v1/queues\n"
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
