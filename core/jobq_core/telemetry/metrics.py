"""Every Prometheus metric jobq exposes, declared in one place.

Each metric is declared once with its help text (the README's metrics table is
generated from these declarations) and belongs to a group: the API's, a worker's, or
the leader's. A process registers only its groups with :func:`use`, so an API never
shows a worker's gauges.

Names follow Prometheus conventions: the `jobq_` prefix, `_total` on counters, base
units (`_seconds`). Labels are bounded: a route *template* (never a raw URL), a job
type, a queue, a status code, an exception class name; never an id.

Several processes (an API under `uvicorn --workers N` or gunicorn) share their
metrics through prometheus-client's multiprocess mode: set `PROMETHEUS_MULTIPROC_DIR`
to an empty, writable directory, the same for every process of one pod, before they
start. :func:`exposition` then sums what every process wrote there.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, Metric
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# A route that matched nothing: one label value, never the raw path.
UNMATCHED_ROUTE = "unmatched"
# Every page and file of the dashboard (`/ui/…`, and `/` that redirects there): one label value.
DASHBOARD_ROUTE = "dashboard"

# Request latencies: a few milliseconds to a slow batch of thousands of jobs.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Run times and waits: a no-op to an hour-long job.
JOB_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


@dataclass(frozen=True)
class Declared:
    """A metric with the group of processes that expose it."""

    metric: MetricWrapperBase
    group: str


_DECLARED: list[Declared] = []
API, WORKER, LEADER = "api", "worker", "leader"


M = TypeVar("M", bound=MetricWrapperBase)


def _declare(group: str, metric: M) -> M:
    _DECLARED.append(Declared(metric, group))
    return metric


# -- API --------------------------------------------------------------------------
API_REQUESTS = _declare(
    API,
    Counter(
        "jobq_api_requests_total",
        "HTTP requests answered, by route template, method and status code.",
        ["route", "method", "status"],
        registry=None,
    ),
)
API_REQUEST_DURATION = _declare(
    API,
    Histogram(
        "jobq_api_request_duration_seconds",
        "Time to answer an HTTP request, by route template and method.",
        ["route", "method"],
        buckets=REQUEST_BUCKETS,
        registry=None,
    ),
)
JOBS_SUBMITTED = _declare(
    API,
    Counter(
        "jobq_jobs_submitted_total",
        "Jobs created through the API (one and batch submits; a repeated idempotency key creates none).",
        ["type", "queue"],
        registry=None,
    ),
)

# -- worker -------------------------------------------------------------------------
_JOB = ["type", "queue"]
JOBS_STARTED = _declare(
    WORKER, Counter("jobq_jobs_started_total", "Attempts claimed and started.", _JOB, registry=None)
)
JOBS_SUCCEEDED = _declare(WORKER, Counter("jobq_jobs_succeeded_total", "Attempts that succeeded.", _JOB, registry=None))
JOBS_FAILED = _declare(
    WORKER,
    Counter(
        "jobq_jobs_failed_total",
        "Attempts that failed: a handler error, a timeout, or a worker lost mid-attempt.",
        _JOB,
        registry=None,
    ),
)
JOBS_RETRIED = _declare(
    WORKER, Counter("jobq_jobs_retried_total", "Failed attempts that will be tried again.", _JOB, registry=None)
)
JOBS_DEAD = _declare(
    WORKER,
    Counter(
        "jobq_jobs_dead_total",
        "Jobs that became dead: a failure (a lost attempt included) with no attempts left, or a permanent failure.",
        _JOB,
        registry=None,
    ),
)
JOBS_CANCELLED = _declare(
    WORKER,
    Counter("jobq_jobs_cancelled_total", "Running attempts ended by a cancel request.", _JOB, registry=None),
)
ARQ_UNREADABLE = _declare(
    WORKER,
    Counter(
        "jobq_arq_unreadable_total",
        "ARQ messages that could not run (pickled, malformed, an unknown function), each recorded as a dead job.",
        ["queue", "reason"],
        registry=None,
    ),
)
JOB_RUN_SECONDS = _declare(
    WORKER,
    Histogram(
        "jobq_job_run_seconds",
        "Run time of an attempt, claim to outcome, whatever the outcome.",
        _JOB,
        buckets=JOB_BUCKETS,
        registry=None,
    ),
)
JOB_QUEUE_WAIT_SECONDS = _declare(
    WORKER,
    Histogram(
        "jobq_job_queue_wait_seconds",
        "Time an attempt waited from ready (its run time came) to started.",
        _JOB,
        buckets=JOB_BUCKETS,
        registry=None,
    ),
)
JOBS_IN_FLIGHT = _declare(
    WORKER,
    Gauge(
        "jobq_jobs_in_flight",
        "Attempts running in this worker now.",
        _JOB,
        multiprocess_mode="livesum",
        registry=None,
    ),
)
HANDLER_ERRORS = _declare(
    WORKER,
    Counter(
        "jobq_handler_errors_total",
        "Exceptions raised by handlers (timeouts included), by job type and exception class.",
        ["type", "exception"],
        registry=None,
    ),
)
WORKER_HEARTBEAT_AGE = _declare(
    WORKER,
    Gauge(
        "jobq_worker_heartbeat_age_seconds",
        "Seconds since this worker's last heartbeat reached PostgreSQL.",
        multiprocess_mode="livemax",
        registry=None,
    ),
)
WORKER_CONCURRENCY = _declare(
    WORKER,
    Gauge(
        "jobq_worker_concurrency",
        "Attempts this worker may run at once, across all its queues (JOBQ_CONCURRENCY).",
        multiprocess_mode="livesum",
        registry=None,
    ),
)
WORKER_IS_LEADER = _declare(
    WORKER,
    Gauge(
        "jobq_worker_is_leader",
        "1 while this worker holds the leader lock and runs the cluster's duties, else 0.",
        multiprocess_mode="livemax",
        registry=None,
    ),
)

# -- leader (one worker per cluster publishes these) ------------------------------
# The leader's gauges come from a snapshot it takes of PostgreSQL every few seconds;
# a process that is not (or no longer) the leader exposes none of them, so a query
# never has to tell a stale copy from the real one.
LEADER_GAUGES: dict[str, tuple[str, list[str]]] = {
    "jobq_queue_jobs": (
        "Jobs per queue and state: ready (due, waiting for a worker), scheduled (not due yet), running, dead.",
        ["queue", "state"],
    ),
    "jobq_queue_oldest_ready_age_seconds": (
        "How long the oldest ready job of a queue has waited since it became due (0 when none).",
        ["queue"],
    ),
    "jobq_queue_paused": ("1 when the queue is paused, else 0.", ["queue"]),
    "jobq_workers_alive": ("Workers whose heartbeat is within JOBQ_WORKER_TIMEOUT_S, as PostgreSQL sees them.", []),
}
QUEUE_STATES = ("ready", "scheduled", "running", "dead")


class LeaderSnapshot(Collector):
    """The leader's gauges: the last snapshot, or nothing when this process does not lead."""

    def __init__(self) -> None:
        self._rows: list[dict[str, Any]] | None = None
        self._workers_alive = 0

    def publish(self, queue_rows: Iterable[Mapping[str, Any]], workers_alive: int) -> None:
        """Replace the snapshot with `queue_stats` rows and the live worker count."""
        self._rows = [dict(r) for r in queue_rows]
        self._workers_alive = workers_alive

    def withdraw(self) -> None:
        """Expose nothing (leadership ended)."""
        self._rows = None

    def collect(self) -> Iterator[Metric]:
        """The gauges of the last snapshot."""
        if self._rows is None:
            return
        families = {name: GaugeMetricFamily(name, doc, labels=labels) for name, (doc, labels) in LEADER_GAUGES.items()}
        for row in self._rows:
            queue = str(row["queue"])
            for state in QUEUE_STATES:
                families["jobq_queue_jobs"].add_metric([queue, state], float(row[state]))
            age = row.get("oldest_ready_age_s")
            families["jobq_queue_oldest_ready_age_seconds"].add_metric([queue], float(age or 0.0))
            families["jobq_queue_paused"].add_metric([queue], 1.0 if row.get("paused") else 0.0)
        families["jobq_workers_alive"].add_metric([], float(self._workers_alive))
        yield from families.values()


LEADER_SNAPSHOT = LeaderSnapshot()


@dataclass(frozen=True)
class MetricDoc:
    """One row of the metrics table."""

    name: str
    kind: str
    labels: list[str]
    help: str
    group: str


def describe(metric: MetricWrapperBase, group: str) -> MetricDoc:
    """The table row of `metric`, exposed by `group` (prometheus_client keeps these private)."""
    return MetricDoc(family_name(metric), str(metric._type), list(metric._labelnames), metric._documentation, group)


def documented() -> list[MetricDoc]:
    """Every metric jobq's api and workers expose, in declaration order, for the README's table."""
    rows = [describe(d.metric, d.group) for d in _DECLARED]
    rows += [MetricDoc(name, "gauge", labels, doc, LEADER) for name, (doc, labels) in LEADER_GAUGES.items()]
    return rows


def family_name(metric: MetricWrapperBase) -> str:
    """The name a metric has in the exposition (a counter's `_total` included)."""
    name: str = metric._name
    return f"{name}_total" if metric._type == "counter" else name


_registered: set[str] = set()


def use(*groups: str) -> None:
    """Register the metrics of `groups` with the process's registry; repeated calls are harmless."""
    for group in groups:
        if group in _registered:
            continue
        _registered.add(group)
        for item in _DECLARED:
            if item.group == group:
                REGISTRY.register(item.metric)
        if group == LEADER:
            REGISTRY.register(LEADER_SNAPSHOT)


def multiprocess_dir() -> str | None:
    """The multiprocess directory when multiprocess mode is on."""
    return os.environ.get(MULTIPROC_ENV) or None


def exposition(accept: str = "", registry: CollectorRegistry | None = None) -> tuple[bytes, str]:
    """The metrics page of `registry` (the process's by default) and its content type
    (OpenMetrics when the scraper asks for it).

    In multiprocess mode the process's page merges what every process wrote to the shared directory.
    """
    if registry is None and multiprocess_dir():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        if LEADER in _registered:
            registry.register(LEADER_SNAPSHOT)
    registry = registry or REGISTRY
    if "application/openmetrics-text" in accept:
        return openmetrics.generate_latest(registry), openmetrics.CONTENT_TYPE_LATEST  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST
