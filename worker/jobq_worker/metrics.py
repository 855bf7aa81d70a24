"""The worker's metrics: each attempt's start and outcome, the heartbeat, the leader's
snapshot of the queues, and the `/metrics` + `/healthz` endpoint.

The metrics themselves are declared in :mod:`jobq_core.telemetry.metrics`; this module only
records into them. Labels are the job's type and queue, never its id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import asyncpg

from jobq_core.errors import UnavailableError
from jobq_core.model.states import JobStatus
from jobq_core.pg.db import Q, unavailable_as_error
from jobq_core.settings import env_name
from jobq_core.telemetry import metrics as m
from jobq_core.telemetry.http import MetricsServer

from .settings import WorkerServiceSettings

log = logging.getLogger("jobq.worker")

# How often the leader takes its snapshot of the queues (one grouped query).
LEADER_SNAPSHOT_INTERVAL_S = 2.0

m.use(m.WORKER, m.LEADER)
_last_heartbeat = time.monotonic()


def _labels(job: Any) -> tuple[str, str]:
    return str(job["type"]), str(job["queue"])


def exception_name(exc: BaseException) -> str:
    """A bounded label for an exception: its class, qualified by module unless a builtin."""
    kind = type(exc)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def attempt_started(job: Any) -> float:
    """Count a claimed attempt and its wait since it became ready; return its start time."""
    labels = _labels(job)
    m.JOBS_STARTED.labels(*labels).inc()
    m.JOBS_IN_FLIGHT.labels(*labels).inc()
    run_at, started_at = job.get("run_at"), job.get("started_at")
    if run_at is not None and started_at is not None:
        m.JOB_QUEUE_WAIT_SECONDS.labels(*labels).observe(max(0.0, (started_at - run_at).total_seconds()))
    return time.perf_counter()


def attempt_ended(job: Any, started: float) -> None:
    """The attempt is over, whatever its outcome: record its run time."""
    labels = _labels(job)
    m.JOBS_IN_FLIGHT.labels(*labels).dec()
    m.JOB_RUN_SECONDS.labels(*labels).observe(time.perf_counter() - started)


def attempt_succeeded(job: Any) -> None:
    """Count a success."""
    m.JOBS_SUCCEEDED.labels(*_labels(job)).inc()


def attempt_cancelled(job: Any) -> None:
    """Count a running attempt stopped on request."""
    m.JOBS_CANCELLED.labels(*_labels(job)).inc()


def attempt_failed(job: Any, exc: BaseException, next_status: JobStatus) -> None:
    """Count a failure, its exception class, and whether the job is retried or dead."""
    labels = _labels(job)
    m.JOBS_FAILED.labels(*labels).inc()
    m.HANDLER_ERRORS.labels(labels[0], exception_name(exc)).inc()
    if next_status == JobStatus.DEAD:
        m.JOBS_DEAD.labels(*labels).inc()
    else:
        m.JOBS_RETRIED.labels(*labels).inc()


def attempts_lost(rescued: list[Any]) -> None:
    """Count attempts of gone workers that the leader rescued (the rows of `rescue_jobs`)."""
    for job in rescued:
        labels = _labels(job)
        if job["status"] == JobStatus.CANCELLED:  # its cancel was asked for: not a failure
            m.JOBS_CANCELLED.labels(*labels).inc()
            continue
        m.JOBS_FAILED.labels(*labels).inc()
        if job["status"] == JobStatus.DEAD:
            m.JOBS_DEAD.labels(*labels).inc()
        else:
            m.JOBS_RETRIED.labels(*labels).inc()


def heartbeat_ok() -> None:
    """A heartbeat reached PostgreSQL."""
    global _last_heartbeat
    _last_heartbeat = time.monotonic()


def _refresh() -> None:
    m.WORKER_HEARTBEAT_AGE.set(time.monotonic() - _last_heartbeat)


async def start_endpoint(
    settings: WorkerServiceSettings, details: Callable[[], dict[str, object]], serving: Callable[[], bool]
) -> MetricsServer | None:
    """Serve `/metrics`, `/healthz` and `/readyz` on the configured port; None when the port is 0.

    Ready means taking jobs: registered, consumers running, not draining. A rolling update
    and the PodDisruptionBudget count ready pods, so a worker still waiting for its schema
    or for PostgreSQL does not count as capacity.
    """
    heartbeat_ok()  # registration is the first heartbeat
    m.WORKER_CONCURRENCY.set(settings.concurrency)
    if settings.worker_metrics_port == 0:
        return None
    server = MetricsServer(
        settings.worker_metrics_host,
        settings.worker_metrics_port,
        health=lambda: (True, {"heartbeat_age_s": round(time.monotonic() - _last_heartbeat, 3), **details()}),
        before_scrape=_refresh,
        setting=env_name("worker_metrics_port"),
        readiness=lambda: (serving(), details()),
    )
    await server.start()
    return server


async def publish_leader_snapshot(
    pool: asyncpg.Pool, is_leader: Callable[[], bool], stop: asyncio.Event, settings: WorkerServiceSettings
) -> None:
    """While this process leads, publish the queue gauges every few seconds; else none."""
    while not stop.is_set():
        leading = is_leader()
        m.WORKER_IS_LEADER.set(1 if leading else 0)
        if leading:
            try:
                async with unavailable_as_error():
                    queues = await pool.fetch(Q["queue_stats"])
                    workers = await pool.fetch(Q["list_workers"], settings.worker_timeout_s)
                m.LEADER_SNAPSHOT.publish([dict(r) for r in queues], sum(1 for w in workers if w["alive"]))
            except UnavailableError as exc:
                log.warning("queue metrics: %s", exc.message)
                m.LEADER_SNAPSHOT.withdraw()
        else:
            m.LEADER_SNAPSHOT.withdraw()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), LEADER_SNAPSHOT_INTERVAL_S)
    m.WORKER_IS_LEADER.set(0)
    m.LEADER_SNAPSHOT.withdraw()
