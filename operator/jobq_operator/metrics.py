"""The operator's Prometheus metrics and its /metrics and /healthz endpoint."""

from __future__ import annotations

import contextlib
import time

from prometheus_client import CollectorRegistry, Counter, Gauge

from jobq_core.settings import env_name
from jobq_core.telemetry.http import MetricsServer

REGISTRY = CollectorRegistry()
_LABELS = ("namespace", "workerscaler")

READY = Gauge("jobq_operator_ready_jobs", "Jobs runnable now in the WorkerScaler's queues.", _LABELS, registry=REGISTRY)
RUNNING = Gauge("jobq_operator_running_jobs", "Jobs running in the WorkerScaler's queues.", _LABELS, registry=REGISTRY)
OLDEST = Gauge(
    "jobq_operator_oldest_ready_age_seconds",
    "Age of the oldest ready job in the WorkerScaler's queues (queue latency).",
    _LABELS,
    registry=REGISTRY,
)
COMPLETION_RATE = Gauge(
    "jobq_operator_completion_rate", "Jobs finished per second, over the rate window.", _LABELS, registry=REGISTRY
)
DESIRED = Gauge("jobq_operator_desired_replicas", "Replicas the policy asked for last.", _LABELS, registry=REGISTRY)
CURRENT = Gauge(
    "jobq_operator_current_replicas", "The target Deployment's replicas when last observed.", _LABELS, registry=REGISTRY
)
DECISIONS = Counter(
    "jobq_operator_decisions_total",
    "Policy decisions, by the reason that set the answer.",
    (*_LABELS, "reason"),
    registry=REGISTRY,
)
SCALINGS = Counter(
    "jobq_operator_scale_changes_total",
    "Changes of the target's replicas, by direction.",
    (*_LABELS, "direction"),
    registry=REGISTRY,
)
ERRORS = Counter(
    "jobq_operator_errors_total",
    "Failed observations or scalings, by condition reason (DatabaseUnavailable, TargetNotFound, ...).",
    (*_LABELS, "reason"),
    registry=REGISTRY,
)
RECORD_ERRORS = Counter(
    "jobq_operator_record_errors_total",
    "Loops whose records for the dashboard (samples, decisions) could not be written to PostgreSQL; scaling went on.",
    _LABELS,
    registry=REGISTRY,
)
LAST_LOOP = Gauge(
    "jobq_operator_last_loop_timestamp_seconds", "When the operator last completed a scaling loop.", registry=REGISTRY
)


def forget(namespace: str, name: str) -> None:
    """Drop the gauges of a deleted WorkerScaler."""
    for gauge in (READY, RUNNING, OLDEST, COMPLETION_RATE, DESIRED, CURRENT):
        with contextlib.suppress(KeyError):
            gauge.remove(namespace, name)


_last_loop_at: float | None = None


def loop_done() -> None:
    """Record that a scaling loop completed now."""
    global _last_loop_at
    _last_loop_at = time.time()
    LAST_LOOP.set(_last_loop_at)


def _last_loop_age() -> float | None:
    return round(time.time() - _last_loop_at, 3) if _last_loop_at is not None else None


async def serve(host: str, port: int) -> MetricsServer:
    """Start serving /metrics and /healthz on host:port (core's endpoint); the caller closes it."""
    server = MetricsServer(
        host,
        port,
        health=lambda: (True, {"last_loop_age_s": _last_loop_age()}),
        setting=env_name("operator_metrics_port"),
        registry=REGISTRY,
    )
    await server.start()
    return server
