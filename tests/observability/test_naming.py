"""Metric names and labels follow Prometheus conventions; route labels are templates."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from jobq_api.metrics import route_template
from jobq_core.telemetry import metrics

UNBOUNDED = {"id", "job_id", "url", "path", "worker_id", "key", "message", "idempotency_key"}


@pytest.mark.parametrize("metric", metrics.documented(), ids=lambda m: m.name)
def test_names_units_and_labels_follow_the_conventions(metric: metrics.MetricDoc) -> None:
    assert metric.name.startswith("jobq_")
    assert metric.name.endswith("_total") == (metric.kind == "counter")
    if metric.kind == "histogram" or "age" in metric.name:
        assert metric.name.endswith("_seconds")
    assert not UNBOUNDED & set(metric.labels)
    assert metric.help.endswith(".") and len(metric.help) > 20


def test_route_labels_are_templates_and_unknown_paths_one_fixed_value() -> None:
    from jobq_api.app import create_app
    from jobq_api.settings import ApiSettings

    app = create_app(ApiSettings(database_url="postgresql://x@127.0.0.1/x", redis_url="redis://127.0.0.1:1"))

    def scope(method: str, path: str) -> dict[str, object]:
        return {"type": "http", "method": method, "path": path, "root_path": "", "app": app, "headers": []}

    assert route_template(scope("GET", "/v1/jobs/0b7e7c9e-0000-4000-8000-000000000000")) == "/v1/jobs/{job_id}"
    assert route_template(scope("POST", "/v1/jobs/batch")) == "/v1/jobs/batch"
    assert route_template(scope("PUT", "/v1/jobs/batch")) == "/v1/jobs/batch"  # a 405 keeps its route
    assert route_template(scope("GET", "/wp-admin/setup.php")) == metrics.UNMATCHED_ROUTE


def test_exposition_speaks_openmetrics_when_asked() -> None:
    metrics.use(metrics.API)
    body, content_type = metrics.exposition("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.decode().endswith("# EOF\n")
    body, content_type = metrics.exposition("")
    assert content_type.startswith("text/plain")
    names = {f.name for f in text_string_to_metric_families(body.decode())}
    assert {"jobq_api_requests", "jobq_jobs_submitted"} <= names


def test_the_leader_snapshot_is_all_or_nothing() -> None:
    snapshot = metrics.LeaderSnapshot()
    assert list(snapshot.collect()) == []
    row = {"queue": "mail", "ready": 3, "scheduled": 1, "running": 2, "dead": 0, "oldest_ready_age_s": 4.5}
    snapshot.publish([row], workers_alive=2)
    families = {f.name: f for f in snapshot.collect()}
    ready = [s for s in families["jobq_queue_jobs"].samples if s.labels == {"queue": "mail", "state": "ready"}]
    assert [s.value for s in ready] == [3.0]
    assert families["jobq_queue_oldest_ready_age_seconds"].samples[0].value == 4.5
    assert families["jobq_workers_alive"].samples[0].value == 2.0
    snapshot.withdraw()
    assert list(snapshot.collect()) == []
