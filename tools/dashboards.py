"""Generate the Grafana dashboards of charts/jobq/dashboards/ from one description.

    python -m tools.dashboards          # write the JSON files
    python -m tools.dashboards --check  # exit 1 when a file is out of date (make lint)

Each panel is a title, a unit and PromQL queries; this module lays them out in
Grafana's JSON model (schema 39, timeseries and stat panels, a Prometheus data source
chosen by a `datasource` variable, and every query kept to the namespaces a `namespace`
variable picks, since one Prometheus often scrapes several releases). The same queries are evaluated against a real
Prometheus by tests/observability/test_prometheus.py and drawn by
tools/render_dashboard.py, so what the README shows is what Grafana shows.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools import generated

DIR = Path(__file__).resolve().parent.parent / "charts" / "jobq" / "dashboards"
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Query:
    """One PromQL expression and its legend."""

    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    """A panel: a time series (or a single stat) of one or more queries."""

    title: str
    unit: str
    queries: list[Query]
    description: str = ""
    kind: str = "timeseries"
    width: int = 12


@dataclass(frozen=True)
class Dashboard:
    """A dashboard: its file name, title, variables and panels in reading order."""

    file: str
    uid: str
    title: str
    description: str
    panels: list[Panel]
    variables: list[dict[str, Any]] = field(default_factory=list)
    # Whether a run of the API and workers alone gives every panel data (the operator's does not).
    data_from_workload: bool = True


def _quantiles(metric: str, by: str, selector: str = "") -> list[Query]:
    extra = f", {by}" if by else ""
    return [
        Query(
            f"histogram_quantile({q}, sum by (le{extra}) (rate({metric}_bucket{selector}[{RATE}])))",
            f"p{int(q * 100)}" + (f" {{{{{by}}}}}" if by else ""),
        )
        for q in (0.5, 0.95, 0.99)
    ]


def _query_variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "query": {"query": query, "refId": f"{name}-values"},
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


# Every query keeps to the namespaces picked: a shared Prometheus holds several releases.
_NS = '{namespace=~"$namespace"}'
_NAMESPACE = _query_variable("namespace", "Namespace", "label_values(jobq_api_requests_total, namespace)")

OVERVIEW = Dashboard(
    file="jobq-overview.json",
    uid="jobq-overview",
    title="jobq / Overview",
    description="Throughput, failures, queue depth and age, run times, workers and the API.",
    variables=[_NAMESPACE],
    panels=[
        Panel(
            "Throughput (attempts per second)",
            "ops",
            [
                Query(f"sum by (queue) (rate(jobq_jobs_succeeded_total{_NS}[{RATE}]))", "succeeded {{queue}}"),
                Query(f"sum by (queue) (rate(jobq_jobs_started_total{_NS}[{RATE}]))", "started {{queue}}"),
                Query(f"sum by (queue) (rate(jobq_jobs_submitted_total{_NS}[{RATE}]))", "submitted {{queue}}"),
            ],
        ),
        Panel(
            "Failures (per second)",
            "ops",
            [
                Query(f"sum by (queue) (rate(jobq_jobs_failed_total{_NS}[{RATE}]))", "failed {{queue}}"),
                Query(f"sum by (queue) (rate(jobq_jobs_retried_total{_NS}[{RATE}]))", "retried {{queue}}"),
                Query(f"sum by (queue) (rate(jobq_jobs_dead_total{_NS}[{RATE}]))", "dead {{queue}}"),
            ],
        ),
        Panel(
            "Queue depth",
            "short",
            [Query(f"max by (queue, state) (jobq_queue_jobs{_NS})", "{{state}} {{queue}}")],
            "Published by the leader every 2 s.",
        ),
        Panel(
            "Oldest ready job (age)",
            "s",
            [Query(f"max by (queue) (jobq_queue_oldest_ready_age_seconds{_NS})", "{{queue}}")],
            "How long the oldest due job of each queue has waited for a worker.",
        ),
        Panel("Run time percentiles", "s", _quantiles("jobq_job_run_seconds", "", _NS)),
        Panel("Queue wait percentiles (ready to start)", "s", _quantiles("jobq_job_queue_wait_seconds", "", _NS)),
        Panel(
            "Workers",
            "short",
            [
                Query(f"max(jobq_workers_alive{_NS})", "alive (PostgreSQL heartbeats)"),
                Query(f"count(jobq_worker_heartbeat_age_seconds{_NS})", "scraped"),
                Query(f"sum(jobq_worker_is_leader{_NS})", "leaders"),
            ],
        ),
        Panel(
            "Busy slots",
            "short",
            [
                Query(f"sum(jobq_jobs_in_flight{_NS})", "running"),
                Query(f"sum(jobq_worker_concurrency{_NS})", "capacity"),
            ],
        ),
        Panel(
            "Failure ratio",
            "percentunit",
            [
                Query(
                    f"sum by (queue) (rate(jobq_jobs_failed_total{_NS}[{RATE}]))"
                    f" / sum by (queue) (rate(jobq_jobs_started_total{_NS}[{RATE}]))",
                    "{{queue}}",
                )
            ],
        ),
        Panel(
            "Handler errors by exception",
            "ops",
            [Query(f"sum by (exception) (rate(jobq_handler_errors_total{_NS}[{RATE}]))", "{{exception}}")],
        ),
        Panel(
            "API requests by status",
            "reqps",
            [Query(f"sum by (status) (rate(jobq_api_requests_total{_NS}[{RATE}]))", "{{status}}")],
        ),
        Panel(
            "API latency p95 by route",
            "s",
            [
                Query(
                    "histogram_quantile(0.95, sum by (le, route) "
                    f"(rate(jobq_api_request_duration_seconds_bucket{_NS}[{RATE}])))",
                    "{{route}}",
                )
            ],
        ),
    ],
)

_TYPE = '{namespace=~"$namespace", type=~"$type"}'
JOB_TYPE = Dashboard(
    file="jobq-job-type.json",
    uid="jobq-job-type",
    title="jobq / Job type",
    description="One job type (or several): outcomes, run time, queue wait and errors.",
    variables=[
        _NAMESPACE,
        _query_variable("type", "Job type", 'label_values(jobq_jobs_started_total{namespace=~"$namespace"}, type)'),
    ],
    panels=[
        Panel(
            "Outcomes (per second)",
            "ops",
            [
                Query(f"sum by (type) (rate(jobq_jobs_{outcome}_total{_TYPE}[{RATE}]))", f"{outcome} {{{{type}}}}")
                for outcome in ("started", "succeeded", "failed", "retried", "dead", "cancelled")
            ],
            width=24,
        ),
        Panel("Run time percentiles", "s", _quantiles("jobq_job_run_seconds", "type", _TYPE)),
        Panel("Queue wait percentiles", "s", _quantiles("jobq_job_queue_wait_seconds", "type", _TYPE)),
        Panel(
            "Handler errors by exception",
            "ops",
            [
                Query(
                    f"sum by (type, exception) (rate(jobq_handler_errors_total{_TYPE}[{RATE}]))",
                    "{{type}}: {{exception}}",
                )
            ],
        ),
        Panel("Running now", "short", [Query(f"sum by (type) (jobq_jobs_in_flight{_TYPE})", "{{type}}")]),
        Panel(
            "Submitted (per second)",
            "ops",
            [Query(f"sum by (type) (rate(jobq_jobs_submitted_total{_TYPE}[{RATE}]))", "{{type}}")],
        ),
        Panel(
            "Mean run time",
            "s",
            [
                Query(
                    f"sum by (type) (rate(jobq_job_run_seconds_sum{_TYPE}[{RATE}]))"
                    f" / sum by (type) (rate(jobq_job_run_seconds_count{_TYPE}[{RATE}]))",
                    "{{type}}",
                )
            ],
        ),
    ],
)

_SCALER = '{namespace=~"$namespace", workerscaler=~"$workerscaler"}'
OPERATOR = Dashboard(
    file="jobq-operator.json",
    uid="jobq-operator",
    title="jobq / Operator",
    description="What the operator saw and decided for each WorkerScaler: desired versus current replicas.",
    variables=[
        _query_variable("namespace", "Namespace", "label_values(jobq_operator_desired_replicas, namespace)"),
        _query_variable(
            "workerscaler",
            "WorkerScaler",
            'label_values(jobq_operator_desired_replicas{namespace=~"$namespace"}, workerscaler)',
        ),
    ],
    data_from_workload=False,
    panels=[
        Panel(
            "Desired vs current replicas",
            "short",
            [
                Query(f"max by (workerscaler) (jobq_operator_desired_replicas{_SCALER})", "desired {{workerscaler}}"),
                Query(f"max by (workerscaler) (jobq_operator_current_replicas{_SCALER})", "current {{workerscaler}}"),
            ],
            width=24,
        ),
        Panel(
            "Ready jobs the operator saw",
            "short",
            [Query(f"max by (workerscaler) (jobq_operator_ready_jobs{_SCALER})", "{{workerscaler}}")],
        ),
        Panel(
            "Oldest ready job the operator saw",
            "s",
            [Query(f"max by (workerscaler) (jobq_operator_oldest_ready_age_seconds{_SCALER})", "{{workerscaler}}")],
        ),
        Panel(
            "Scaling decisions by reason",
            "short",
            [
                Query(
                    f"sum by (reason) (increase(jobq_operator_decisions_total{_SCALER}[{RATE}]))",
                    "{{reason}}",
                )
            ],
        ),
        Panel(
            "Errors by reason",
            "short",
            [Query(f"sum by (reason) (increase(jobq_operator_errors_total{_SCALER}[{RATE}]))", "{{reason}}")],
            "Failed observations or scalings (PostgreSQL unreachable, target missing, forbidden ...).",
        ),
    ],
)

DASHBOARDS = [OVERVIEW, JOB_TYPE, OPERATOR]


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "expr": q.expr,
                "legendFormat": q.legend,
                "range": True,
            }
            for i, q in enumerate(panel.queries)
        ],
    }


def render(dashboard: Dashboard) -> dict[str, Any]:
    """The dashboard in Grafana's JSON model."""
    panels, x, y = [], 0, 0
    for number, panel in enumerate(dashboard.panels, start=1):
        if x + panel.width > 24:
            x, y = 0, y + 8
        panels.append(_panel(panel, number, x, y))
        x += panel.width
    datasource = {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
    }
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": ["jobq"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "timezone": "",
        "templating": {"list": [datasource, *dashboard.variables]},
        "annotations": {"list": []},
        "links": [{"title": "jobq", "type": "dashboards", "tags": ["jobq"], "asDropdown": True}],
        "panels": panels,
    }


def text(dashboard: Dashboard) -> str:
    """The file's content."""
    return json.dumps(render(dashboard), indent=2) + "\n"


if __name__ == "__main__":
    sys.exit(generated.main("a dashboard file", lambda: {DIR / d.file: text(d) for d in DASHBOARDS}))
