"""The chart's monitoring extras against the Prometheus Operator's real CRDs.

The CRDs come from the pinned prometheus-operator module (tools/kube/extras.sh crds), so
the API server validates ServiceMonitor, PodMonitor and PrometheusRule against their
real schemas. Alert rules and dashboards are the chart's files (alerts/*.yaml,
dashboards/*.json), whatever they hold; a second test renders fixed ones.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.k8s.kube import Kube
from tests.k8s.test_chart import CHART, EXTERNAL_DB, EXTERNAL_REDIS, RELEASE, helm_args, install, names, parse

MONITORING = (
    "monitoring.serviceMonitor.enabled=true", "monitoring.podMonitor.enabled=true",
    "monitoring.prometheusRule.enabled=true", "monitoring.dashboards.enabled=true",
)  # fmt: skip


def chart_groups(chart: Path) -> list[dict[str, Any]]:
    """The rule groups of the chart's alerts/*.yaml, in file-name order."""
    groups: list[dict[str, Any]] = []
    for path in sorted((chart / "alerts").glob("*.yaml")):
        groups += (yaml.safe_load(path.read_text()) or {}).get("groups") or []
    return groups


def test_install_with_ingress_external_servers_and_monitoring_extras(
    kube: Kube, namespace: str, prometheus_crds: Path
) -> None:
    install(
        kube, namespace,
        "postgresql.enabled=false", f"externalDatabase.url={EXTERNAL_DB}",
        "redis.enabled=false", f"externalRedis.url={EXTERNAL_REDIS}",
        "api.ingress.enabled=true", "api.ingress.className=nginx", "api.ingress.tls[0].secretName=jobq-tls",
        "api.ingress.tls[0].hosts[0]=jobq.example.com", "networkPolicy.enabled=true",
        *MONITORING, "monitoring.serviceMonitor.labels.release=prometheus",
    )  # fmt: skip

    # The ServiceMonitor selects the api Service, whose port `http` it scrapes at /metrics.
    [monitor] = kube.get("servicemonitors", "-l", "app.kubernetes.io/instance=demo", "-n", namespace)["items"]
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    labels = ",".join(f"{k}={v}" for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    [service] = kube.get("services", "-l", labels, "-n", namespace)["items"]
    assert service["metadata"]["name"] == "demo-jobq-api"
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"

    # Each PodMonitor selects one Deployment's pods, which have the port it scrapes.
    assert names(kube, "podmonitors", namespace) == {"demo-jobq-worker", "demo-jobq-operator"}
    for component, port in (("worker", 8081), ("operator", 8082)):
        pod_monitor = kube.get("podmonitor", f"demo-jobq-{component}", "-n", namespace)["spec"]
        labels = ",".join(f"{k}={v}" for k, v in pod_monitor["selector"]["matchLabels"].items())

        def pods_of(selector: str = labels) -> list[dict[str, Any]]:
            return list(kube.get("pods", "-l", selector, "-n", namespace)["items"])

        pods = kube.until(pods_of, what=f"{component} pods")
        ports = {(p["name"], p["containerPort"]) for c in pods[0]["spec"]["containers"] for p in c.get("ports", [])}
        assert (pod_monitor["podMetricsEndpoints"][0]["port"], port) in ports, component

    # The rules and dashboards are the chart's own files, whatever they hold.
    groups = chart_groups(Path(CHART))
    rules = kube.get("prometheusrules", "-l", "app.kubernetes.io/instance=demo", "-n", namespace)["items"]
    assert [r["spec"]["groups"] for r in rules] == ([groups] if groups else [])
    dashboards = sorted(p.name for p in (Path(CHART) / "dashboards").glob("*.json"))
    found = kube.get("configmaps", "-l", "grafana_dashboard=1", "-n", namespace)["items"]
    assert sorted(key for c in found for key in c["data"]) == dashboards
    for configmap in found:
        for key, text in configmap["data"].items():
            assert json.loads(text) == json.loads((Path(CHART) / "dashboards" / key).read_text())


def test_rules_and_dashboards_are_built_from_the_charts_files(
    kube: Kube, namespace: str, prometheus_crds: Path, tmp_path: Path
) -> None:
    chart = tmp_path / "jobq"
    shutil.copytree(CHART, chart)
    for folder in ("alerts", "dashboards"):
        shutil.rmtree(chart / folder, ignore_errors=True)
        (chart / folder).mkdir()

    def render(*sets: str) -> list[dict[str, Any]]:
        text = kube.helm(
            "template", RELEASE, str(chart), "-n", namespace, "--show-only", "templates/prometheusrule.yaml",
            "--show-only", "templates/dashboards.yaml", *helm_args(*MONITORING, *sets), check=False,
        )  # fmt: skip
        if "could not find template" in text.stderr:  # every template rendered nothing
            return []
        assert text.returncode == 0, text.stderr
        return parse(kube, text.stdout, server=namespace)

    assert render() == []  # no rule file, no dashboard: nothing at all

    rule = {"alert": "JobqQueueStuck", "expr": "jobq_ready_jobs > 0", "for": "10m", "labels": {"severity": "warning"},
            "annotations": {"summary": "{{ $labels.queue }} has ready jobs nobody runs"}}  # fmt: skip
    (chart / "alerts" / "a.yaml").write_text(yaml.safe_dump({"groups": [{"name": "jobq-a", "rules": [rule]}]}))
    (chart / "alerts" / "b.yaml").write_text(yaml.safe_dump({"groups": [{"name": "jobq-b", "rules": [rule]}]}))
    dashboard = {"title": "jobq overview", "uid": "jobq", "panels": [{"type": "timeseries", "title": "Ready"}]}
    (chart / "dashboards" / "jobq_overview.json").write_text(json.dumps(dashboard, indent=2))

    objects = render(
        "monitoring.dashboards.labelKey=dashboards.example.com/grafana",
        "monitoring.dashboards.labelValue=yes",
        "monitoring.dashboards.annotations.grafana_folder=jobq",
    )
    by_kind = {o["kind"]: o for o in objects}
    assert set(by_kind) == {"PrometheusRule", "ConfigMap"}
    # Accepted by the real PrometheusRule schema, with Prometheus' own templates left as they are.
    assert by_kind["PrometheusRule"]["spec"]["groups"] == [
        {"name": "jobq-a", "rules": [rule]}, {"name": "jobq-b", "rules": [rule]}
    ]  # fmt: skip
    configmap = by_kind["ConfigMap"]
    assert configmap["metadata"]["name"] == "demo-jobq-dashboard-jobq-overview"
    assert configmap["metadata"]["labels"]["dashboards.example.com/grafana"] == "yes"
    assert configmap["metadata"]["annotations"]["grafana_folder"] == "jobq"
    assert json.loads(configmap["data"]["jobq_overview.json"]) == dashboard

    (chart / "alerts" / "broken.yaml").write_text("groups: [unclosed\n")
    broken = kube.helm("template", RELEASE, str(chart), *helm_args(*MONITORING), check=False)
    assert broken.returncode != 0 and "alerts/broken.yaml" in broken.stderr, broken.stderr
