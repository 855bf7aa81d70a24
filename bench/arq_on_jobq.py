"""Issue 15's comparison: the same ARQ app and producer on ARQ's own worker and on jobq.

Each repetition, after the systems' turns, the app (`bench.systems.arq_app`) takes two
turns on the run's servers, in an order that alternates:

- ``arq``: ``python -m bench.systems.arq_app worker`` processes in ARQ's venv (ARQ's
  ``run_worker``, as the ``arq`` CLI runs it);
- ``jobq``: ``jobq-worker --arq bench.systems.arq_app.WorkerSettings`` processes in the
  project's venv, on the run's PostgreSQL and Redis (no API: an ARQ app needs none).

Both have the same number of processes, ``max_jobs`` (the run's concurrency) and
``poll_delay``. The producer (`bench.systems.arq_producer`) runs in ARQ's venv for both:
``drain`` (N jobs enqueued beforehand, released at once), then ``pickup`` (one job at a
time at a low rate, into workers the drain warmed up; the drain's own enqueueing, before
its measured part, is the workers' warm-up). CPU is accounted as in every turn: the workers, the producer, Redis,
and PostgreSQL for jobq. After jobq's turn, its rows are counted: every ARQ job must be a
succeeded job in PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from bench import harness

SIDES = ("arq", "jobq")
APP = "bench.systems.arq_app.WorkerSettings"
PRODUCER = "bench.systems.arq_producer"
PACKAGES = {
    "arq": ["arq", "redis", "hiredis", "uvloop"],
    "jobq": ["jobq-core", "jobq-worker", "arq", "redis", "hiredis", "asyncpg", "uvloop"],
}
# Only what the ARQ app needs of a jobq worker's environment: no bench handlers, no API.
_NOT_FOR_THE_APP = ("JOBQ_HANDLER_MODULES", "JOBQ_DEMO_HANDLERS", "JOBQ_HOST", "BENCH_JOBQ_API_KEY")
ROWS_SQL = "SELECT count(*) FROM jobq_jobs WHERE arq IS NOT NULL AND status = 'succeeded'"


def document(run: harness.Run) -> dict[str, Any]:
    """The comparison's part of the result document, before its turns."""
    return {
        "app": APP,
        "producer": PRODUCER,
        "commands": {
            "arq": f"python -m {APP.rsplit('.', 1)[0]} worker",
            "jobq": f"jobq-worker --arq {APP}",
        },
        "poll_delay_s": run.settings.arq_app_poll_delay_s,
        "versions": {side: harness.package_versions(run.pythons[side], PACKAGES[side]) for side in SIDES},
        "runs": [],
    }


def start(run: harness.Run, side: str) -> harness.Turn:
    """Empty the servers; start the side's worker processes; wait until each ran on_startup.

    No warm-up sleep: the drain enqueues its jobs (not measured) while the workers idle.
    """
    run.empty_servers(postgres=side == "jobq")
    env = run.env_for(side)
    env["BENCH_ARQ_POLL_DELAY_S"] = str(run.settings.arq_app_poll_delay_s)
    for name in _NOT_FOR_THE_APP:
        env.pop(name, None)
    producer = [run.pythons["arq"], "-m", PRODUCER]
    turn = harness.Turn(f"arq-app-on-{side}", run.pythons[side], env, run.log_dir, producer, side == "jobq")
    args = ["-m", "jobq_worker", "--arq", APP] if side == "jobq" else ["-m", APP.rsplit(".", 1)[0], "worker"]
    turn.workers = [turn.spawn(args, f"worker{n}") for n in range(run.settings.workers)]
    try:
        run.wait_ready(turn)  # the app's on_startup marks each worker ready, on both sides
    except BaseException:
        turn.stop()
        raise
    return turn


def turn(run: harness.Run, side: str) -> dict[str, Any]:
    """Both scenarios on one side; a failing scenario is recorded, not fatal."""
    s = run.settings
    out: dict[str, Any] = {"side": side, "scenarios": {}}
    t = start(run, side)
    try:
        out["scenarios"]["drain"] = run.guarded(t, "drain", {"jobs": s.jobs}, s.jobs)
        spec = {"jobs": s.pickup_jobs, "interval_s": s.pickup_interval_s}
        out["scenarios"]["pickup"] = run.guarded(t, "pickup", spec, s.pickup_jobs)
    finally:
        t.stop()
    if side == "jobq":
        out["postgres_succeeded"] = int(run.psql(ROWS_SQL))
    out["enqueued"] = s.pickup_jobs + s.jobs
    return out


def repetition(run: harness.Run, rep: int) -> list[dict[str, Any]]:
    """Both sides once, ARQ first in odd-numbered repetitions and jobq first in the others."""
    order = SIDES if rep % 2 == 0 else SIDES[::-1]
    harness.log(f"ARQ app, repetition {rep + 1}: on {' then on '.join(order)}")
    done = []
    for side in order:
        try:
            result = turn(run, side)
        except Exception as exc:
            harness.log(f"ARQ app on {side}: turn FAILED: {exc}")
            result = {"side": side, "error": str(exc), "scenarios": {}}
        result["repetition"] = rep + 1
        done.append(result)
    return done
