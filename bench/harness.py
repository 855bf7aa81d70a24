"""The benchmark run: servers, each system's processes, the scenarios, CPU accounting.

One PostgreSQL and one Redis (from the wheels, on loopback, durable as `make run`
starts them) serve the whole run. For each repetition the systems take turns, in an
order that rotates, so slow drifts of a shared machine spread over all of them. Each
turn starts the system's worker processes afresh (and jobq's API), runs every scenario
against them, and stops them. Redis is flushed and jobq's tables emptied between turns.
Each repetition ends with issue 15's comparison, the same ARQ app on ARQ's worker and on
jobq (`bench.arq_on_jobq`), in turns of the same kind.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
import redis
from jobq_devrun.servers import LocalServer, die_with_parent, free_port, start_postgres, start_redis

from bench import arq_on_jobq, venvs

ROOT = Path(__file__).resolve().parent.parent
SYSTEMS = ("jobq", "arq", "celery", "saq")
MODULES = {
    "jobq": "bench.systems.jobq_system",
    "arq": "bench.systems.arq_system",
    "celery": "bench.systems.celery_system",
    "saq": "bench.systems.saq_system",
}
PACKAGES = {
    "jobq": ["jobq-core", "jobq-api", "jobq-worker", "redis", "hiredis", "asyncpg", "uvloop", "fastapi", "uvicorn"],
    "arq": ["arq", "redis", "hiredis", "uvloop"],
    "celery": ["celery", "kombu", "redis", "hiredis"],
    "saq": ["saq", "redis", "hiredis", "uvloop"],
}
READY_TIMEOUT_S = 60
WARM_UP_S = 1.0
IDLE_SETTLE_S = 1.0


@dataclass
class Settings:
    """What one run measures; every field is recorded in the result file."""

    jobs: int = 20_000
    repetitions: int = 3
    workers: int = 2
    concurrency: int = 100
    pickup_jobs: int = 200
    pickup_interval_s: float = 0.05
    load_fraction: float = 0.5
    load_seconds: float = 10.0
    # Scenario 3b: one rate for every system, so latencies compare like for like (at 50%
    # of its own throughput, each system is loaded at a different rate).
    same_load_rate: float = 200.0
    mixed_jobs: int = 5_000
    batch_jobs: int = 20_000
    idle_seconds: float = 10.0
    jobq_poll_delay_s: float = 1.0  # the worker's default: enqueues wake idle workers
    systems: list[str] = field(default_factory=lambda: list(SYSTEMS))
    # Issue 15's comparison (bench.arq_on_jobq): the same ARQ app on ARQ's worker and on
    # jobq, after the systems' turns of each repetition, with `jobs` and `pickup_jobs`.
    arq_app: bool = True
    # The app's poll_delay, on both workers (ARQ's default is 0.5 s, which would make
    # pickup latency mostly the poll's).
    arq_app_poll_delay_s: float = 0.05

    def check(self) -> None:
        """Refuse values that cannot make a run, naming the setting."""
        for name in ("jobs", "repetitions", "workers", "concurrency", "pickup_jobs", "mixed_jobs", "batch_jobs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.load_fraction <= 1:
            raise ValueError(f"load_fraction must be in (0, 1], got {self.load_fraction}")
        for name in (
            "pickup_interval_s",
            "load_seconds",
            "same_load_rate",
            "idle_seconds",
            "jobq_poll_delay_s",
            "arq_app_poll_delay_s",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        unknown = [s for s in self.systems if s not in SYSTEMS]
        if unknown or not (self.systems or self.arq_app):
            raise ValueError(f"systems must be among {', '.join(SYSTEMS)}, got {self.systems}")

    def timeout_s(self, jobs: int) -> float:
        """How long a scenario may wait for its jobs: generous, but bounded."""
        return 60 + jobs / 50


def log(message: str) -> None:
    """Progress, on standard error."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the machine and versions --------------------------------------------------------------


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """Cores, CPU model, memory, Python, kernel, and how busy the machine was at the start."""
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def package_versions(python: str, packages: list[str]) -> dict[str, str]:
    """Installed versions of `packages` in the environment of `python`."""
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for p in sys.argv[1:]:\n"
        "    try: out[p] = m.version(p)\n"
        "    except m.PackageNotFoundError: out[p] = None\n"
        "print(json.dumps(out))"
    )
    done = subprocess.run([python, "-c", code, *packages], capture_output=True, text=True, check=True)
    versions: dict[str, str] = json.loads(done.stdout)
    return versions


# -- CPU accounting --------------------------------------------------------------------


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its live children."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def cpu_snapshot(components: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds used so far by each component (a list of process trees)."""
    return {name: sum(tree_cpu_s(pid) for pid in pids) for name, pids in components.items()}


# -- processes -------------------------------------------------------------------------------


def base_env() -> dict[str, str]:
    """Our environment without JOBQ_*/OTEL_*/BENCH_* settings, with the clone importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOBQ_", "OTEL_", "BENCH_"))}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Turn:
    """One system's processes for one repetition."""

    system: str  # also names the log files
    python: str
    env: dict[str, str]
    log_dir: Path
    client: list[str]  # a scenario client's command: its Python and `-m` module
    postgres: bool = False  # whether PostgreSQL's CPU is this system's
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    api: subprocess.Popen[bytes] | None = None

    def spawn(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        """Start a process of this turn, its output in the log folder."""
        with open(self.log_dir / f"{self.system}-{name}.log", "ab") as out:
            return subprocess.Popen(
                [self.python, *args],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent(signal.SIGTERM),  # a killed harness leaves nothing behind
            )

    def log_tail(self, name: str) -> str:
        """The end of a process's log, for an error message."""
        path = self.log_dir / f"{self.system}-{name}.log"
        return path.read_text(errors="replace")[-1500:] if path.exists() else ""

    def stop_workers(self) -> None:
        """SIGTERM the workers, and wait for them (SIGKILL after 30 s)."""
        _stop(self.workers)
        self.workers = []

    def stop(self) -> None:
        """Stop everything this turn started."""
        self.stop_workers()
        if self.api is not None:
            _stop([self.api])
            self.api = None

    def components(self) -> dict[str, list[int]]:
        """The processes whose CPU is accounted, by component."""
        out = {"workers": [p.pid for p in self.workers]}
        if self.api is not None:
            out["api"] = [self.api.pid]
        return out


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Run:
    """A whole benchmark run: servers up, turns, results."""

    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.settings = settings
        self.workdir = workdir
        self.log_dir = workdir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.pg: LocalServer | None = None
        self.rd: LocalServer | None = None
        self.api_key = ""
        self.pythons: dict[str, str] = {}

    # -- servers ---------------------------------------------------------------------

    @contextlib.contextmanager
    def servers(self) -> Iterator[None]:
        """PostgreSQL (migrated, with an admin key) and Redis for the whole run."""
        import asyncio

        import asyncpg

        from jobq_core.pg import apikeys
        from jobq_core.pg.migrate import migrate_url

        self.pg = start_postgres(self.workdir / "postgres")
        try:
            self.rd = start_redis(self.workdir / "redis")
            try:

                async def prepare() -> str:
                    assert self.pg is not None
                    await migrate_url(self.pg.url)
                    conn = await asyncpg.connect(self.pg.url)
                    try:
                        return await apikeys.create(conn, "bench", [apikeys.Scope.ADMIN])
                    finally:
                        await conn.close()

                self.api_key = asyncio.run(prepare())
                yield
            finally:
                self.rd.stop()
        finally:
            self.pg.stop()

    def redis(self) -> redis.Redis:
        """A client of the run's Redis."""
        assert self.rd is not None
        return redis.Redis.from_url(self.rd.url)

    def psql(self, sql: str) -> str:
        """Run one SQL statement with psql-free asyncpg; return the first value as text."""
        import asyncio

        import asyncpg

        async def go() -> str:
            assert self.pg is not None
            conn = await asyncpg.connect(self.pg.url)
            try:
                return str(await conn.fetchval(sql))
            finally:
                await conn.close()

        return asyncio.run(go())

    def server_versions(self) -> dict[str, str]:
        """PostgreSQL's and Redis's versions."""
        info = self.redis().info("server")
        return {"postgresql": self.psql("SHOW server_version"), "redis": str(info.get("redis_version"))}

    # -- a system's turn ----------------------------------------------------------------

    def env_for(self, system: str) -> dict[str, str]:
        """The environment of a system's processes."""
        assert self.pg is not None and self.rd is not None
        env = base_env()
        env.update(BENCH_REDIS_URL=self.rd.url, BENCH_CONCURRENCY=str(self.settings.concurrency))
        if system == "jobq":
            env.update(
                JOBQ_DATABASE_URL=self.pg.url,
                JOBQ_REDIS_URL=self.rd.url,
                JOBQ_HOST="127.0.0.1",
                JOBQ_CONCURRENCY=str(self.settings.concurrency),
                JOBQ_POLL_DELAY_S=str(self.settings.jobq_poll_delay_s),
                JOBQ_RETRY_BASE_S="0",  # flaky jobs retry at once, as the other systems' do
                JOBQ_LOG_LEVEL="WARNING",
                JOBQ_WORKER_METRICS_PORT="0",  # several workers on one host
                JOBQ_HANDLER_MODULES="bench.systems.jobq_handlers",
                JOBQ_DEMO_HANDLERS="true",
                BENCH_DATABASE_URL=self.pg.url,
                BENCH_JOBQ_API_KEY=self.api_key,
            )
        return env

    def empty_servers(self, postgres: bool) -> None:
        """Flush Redis; with `postgres`, empty jobq's jobs and workers too."""
        self.redis().flushall()
        if postgres:
            self.psql("TRUNCATE jobq_jobs, jobq_job_attempts CASCADE")
            self.psql("DELETE FROM jobq_workers")

    def start_turn(self, system: str) -> Turn:
        """Empty the servers, start the system's processes, wait until they consume."""
        self.empty_servers(postgres=system == "jobq")
        python = self.pythons[system]
        turn = Turn(
            system, python, self.env_for(system), self.log_dir, [python, "-m", MODULES[system]], system == "jobq"
        )
        if system == "jobq":
            port = free_port()
            turn.env["JOBQ_PORT"] = str(port)
            turn.env["BENCH_JOBQ_API_URL"] = f"http://127.0.0.1:{port}"
            turn.api = turn.spawn(["-m", "jobq_api"], "api")
            turn.workers = [turn.spawn(["-m", "jobq_worker"], f"worker{n}") for n in range(self.settings.workers)]
        else:
            turn.workers = [
                turn.spawn(["-m", MODULES[system], "worker"], f"worker{n}") for n in range(self.settings.workers)
            ]
        try:
            self.wait_ready(turn)
        except BaseException:
            turn.stop()
            raise
        time.sleep(WARM_UP_S)
        return turn

    def wait_ready(self, turn: Turn) -> None:
        """Until every worker consumes: jobq's through its API and registry, the others' `bench:ready:*` keys."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        client = self.redis()
        while time.monotonic() < deadline:
            for n, proc in enumerate(turn.workers):
                if proc.poll() is not None:
                    tail = turn.log_tail(f"worker{n}")
                    raise RuntimeError(f"{turn.system} worker exited with {proc.returncode}:\n{tail}")
            if turn.api is not None:
                if self._jobq_ready(turn):
                    return
            elif len(client.keys("bench:ready:*")) >= len(turn.workers):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{turn.system} did not become ready within {READY_TIMEOUT_S}s")

    def _jobq_ready(self, turn: Turn) -> bool:
        assert turn.api is not None
        if turn.api.poll() is not None:
            raise RuntimeError(f"jobq API exited with {turn.api.returncode}:\n{turn.log_tail('api')}")
        try:
            with urllib.request.urlopen(turn.env["BENCH_JOBQ_API_URL"] + "/readyz", timeout=1) as response:  # noqa: S310
                if response.status != 200:
                    return False
        except OSError:
            return False
        alive = self.psql("SELECT count(*) FROM jobq_workers WHERE stopped_at IS NULL")
        return int(alive) >= len(turn.workers)

    # -- measurements -------------------------------------------------------------------

    def idle_commands(self, turn: Turn) -> dict[str, Any]:
        """Redis commands per second per idle worker process, from INFO commandstats."""
        client = self.redis()

        def calls() -> dict[str, int]:
            stats = client.info("commandstats")
            return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info"}

        time.sleep(IDLE_SETTLE_S)  # SAQ opens one blocking connection per slot after it says ready
        before = calls()
        time.sleep(self.settings.idle_seconds)
        after = calls()
        diff = {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0) > 0}
        total = sum(diff.values())
        per_s = total / self.settings.idle_seconds
        return {
            "seconds": self.settings.idle_seconds,
            "commands": total,
            "commands_per_s": per_s,
            "commands_per_s_per_worker": per_s / len(turn.workers),
            "by_command": dict(sorted(diff.items(), key=lambda kv: -kv[1])[:8]),
        }

    def scenario(self, turn: Turn, name: str, spec: dict[str, Any], jobs: int) -> dict[str, Any]:
        """Run one scenario's client; add the CPU every component used meanwhile."""
        assert self.rd is not None and self.pg is not None
        spec = {**spec, "timeout_s": self.settings.timeout_s(jobs)}
        components = {**turn.components(), "redis": [self.rd.process.pid]}
        if turn.postgres:
            components["postgres"] = [self.pg.process.pid]
        with open(self.log_dir / f"{turn.system}-client-{name}.log", "ab") as err:
            proc = subprocess.Popen(
                [*turn.client, "client", name, json.dumps(spec)],
                env=turn.env,
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                preexec_fn=die_with_parent(signal.SIGTERM),
            )
        watchdog = threading.Timer(spec["timeout_s"] + 120, proc.kill)
        watchdog.start()
        try:
            assert proc.stdin is not None and proc.stdout is not None
            if proc.stdout.readline().strip() != "READY":
                raise RuntimeError(f"{turn.system} client for {name} failed to start")
            components["client"] = [proc.pid]
            before = cpu_snapshot(components)
            started = time.perf_counter()
            proc.stdin.write("GO\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            wall = time.perf_counter() - started
            after = cpu_snapshot(components)
            proc.wait(30)
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode != 0 or not line.strip():
            tail = (self.log_dir / f"{turn.system}-client-{name}.log").read_text(errors="replace")[-1500:]
            raise RuntimeError(f"{turn.system} client for {name} exited with {proc.returncode}:\n{tail}")
        result: dict[str, Any] = json.loads(line)
        cpu = {k: round(after[k] - before[k], 3) for k in components}
        result["wall_s"] = wall
        result["cpu_s"] = cpu
        result["cpu_s_per_1000_jobs"] = {k: round(v / jobs * 1000, 4) for k, v in cpu.items()}
        return result

    def turn(self, system: str) -> dict[str, Any]:
        """Every scenario for one system; a failing scenario is recorded, not fatal."""
        s = self.settings
        out: dict[str, Any] = {"system": system, "scenarios": {}}
        turn = self.start_turn(system)
        try:
            out["idle_redis"] = self.idle_commands(turn)
            log(f"{system}: idle Redis {out['idle_redis']['commands_per_s_per_worker']:.1f} commands/s per worker")
            same_load_jobs = max(1, int(s.same_load_rate * s.load_seconds))
            plan: list[tuple[str, dict[str, Any], int]] = [
                ("pickup", {"jobs": s.pickup_jobs, "interval_s": s.pickup_interval_s}, s.pickup_jobs),
                ("throughput", {"jobs": s.jobs}, s.jobs),
                ("load", {}, 0),
                ("load_same", {"rate": s.same_load_rate, "seconds": s.load_seconds}, same_load_jobs),
                ("mixed", {"jobs": s.mixed_jobs}, s.mixed_jobs),
            ]
            for name, spec, jobs in plan:
                if name == "load":
                    measured = out["scenarios"].get("throughput", {}).get("jobs_per_s") or 100.0
                    rate = max(1.0, s.load_fraction * measured)
                    spec = {"rate": rate, "seconds": s.load_seconds}
                    jobs = max(1, int(rate * s.load_seconds))
                out["scenarios"][name] = self.guarded(turn, name, spec, jobs)
            if system == "jobq":
                turn.stop_workers()  # accepted, not drained: the API alone is measured
                out["scenarios"]["batch"] = self.guarded(turn, "batch", {"jobs": s.batch_jobs}, s.batch_jobs)
        finally:
            turn.stop()
        return out

    def guarded(self, turn: Turn, name: str, spec: dict[str, Any], jobs: int) -> dict[str, Any]:
        """`scenario`, its failure recorded instead of raised; logs the headline."""
        try:
            result = self.scenario(turn, name, spec, jobs)
        except Exception as exc:
            log(f"{turn.system}: {name} FAILED: {exc}")
            return {"error": str(exc)}
        headline = {k: result[k] for k in ("jobs_per_s", "p50_ms", "p99_ms", "correct") if k in result}
        log(f"{turn.system}: {name} {json.dumps(headline)}")
        return result


def run(settings: Settings) -> dict[str, Any]:
    """The whole benchmark; returns the result document (not yet written)."""
    settings.check()
    began = time.time()
    document: dict[str, Any] = {
        "schema": 1,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(began)),
        "command": " ".join(["python -m bench", *sys.argv[1:]]),
        "settings": asdict(settings),
        "machine": machine(),
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="jobq-bench-") as tmp:
        bench_run = Run(settings, Path(tmp))
        for system in {*settings.systems, *(["jobq", "arq"] if settings.arq_app else [])}:
            bench_run.pythons[system] = sys.executable if system == "jobq" else venvs.python_of(system)
        document["versions"] = {s: package_versions(bench_run.pythons[s], PACKAGES[s]) for s in settings.systems}
        if settings.arq_app:
            document["arq_app"] = arq_on_jobq.document(bench_run)
        with bench_run.servers():
            document["versions"]["servers"] = bench_run.server_versions()
            for rep in range(settings.repetitions):
                shift = rep % max(1, len(settings.systems))
                order = settings.systems[shift:] + settings.systems[:shift]
                log(f"repetition {rep + 1}/{settings.repetitions}: {', '.join(order) or 'the ARQ app only'}")
                for system in order:
                    try:
                        turn = bench_run.turn(system)
                    except Exception as exc:
                        log(f"{system}: turn FAILED: {exc}")
                        turn = {"system": system, "error": str(exc), "scenarios": {}}
                    turn["repetition"] = rep + 1
                    document["runs"].append(turn)
                if settings.arq_app:
                    document["arq_app"]["runs"] += arq_on_jobq.repetition(bench_run, rep)
    document["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    document["duration_s"] = round(time.time() - began, 1)
    return document
