"""The dashboard files: up to date, laid out on Grafana's grid, and naming only metrics
that some jobq process declares (the operator's included)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from jobq_core.telemetry import metrics
from tools import dashboards

RULES = dashboards.DIR.parent / "alerts" / "jobq.rules.yaml"
METRIC = re.compile(r"\b(jobq_[a-z_]+)")
SUFFIXES = ("_bucket", "_sum", "_count")


def declared_names() -> set[str]:
    """Every series name jobq's processes expose, histograms' series included."""
    from prometheus_client import CollectorRegistry

    from jobq_operator import metrics as operator_metrics

    names = set()
    for doc in metrics.documented():
        names.add(doc.name)
        if doc.kind == "histogram":
            names.update(doc.name + suffix for suffix in SUFFIXES)
    registry: CollectorRegistry = operator_metrics.REGISTRY
    for family in registry.collect():
        names.add(family.name + ("_total" if family.type == "counter" else ""))
    return names


def used_names() -> dict[str, set[str]]:
    """Metric names in each dashboard and in the alert rules."""
    used: dict[str, set[str]] = {}
    for dashboard in dashboards.DASHBOARDS:
        model = json.loads((dashboards.DIR / dashboard.file).read_text())
        exprs = [t["expr"] for p in model["panels"] for t in p["targets"]]
        exprs += [v.get("definition", "") for v in model["templating"]["list"]]
        used[dashboard.file] = {n for e in exprs for n in METRIC.findall(e)}
    rules = [r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    used[RULES.name] = {n for e in rules for n in METRIC.findall(e)}
    return used


@pytest.mark.parametrize("where", sorted(used_names()))
def test_every_metric_a_dashboard_or_alert_names_is_declared(where: str) -> None:
    names = used_names()[where]
    assert names, where
    assert not names - declared_names(), f"{where} names metrics nothing exposes"


def test_the_operator_metrics_carry_namespace_and_workerscaler() -> None:
    from jobq_operator import metrics as operator_metrics

    for family in operator_metrics.REGISTRY.collect():
        if family.name.endswith(("_replicas", "_jobs", "_seconds")) and "timestamp" not in family.name:
            metric = next(m for m in vars(operator_metrics).values() if getattr(m, "_name", None) == family.name)
            assert {"namespace", "workerscaler"} <= set(metric._labelnames), family.name


@pytest.mark.parametrize("dashboard", dashboards.DASHBOARDS, ids=lambda d: d.file)
def test_a_dashboard_is_current_and_fits_grafanas_grid(dashboard: dashboards.Dashboard) -> None:
    model = json.loads((dashboards.DIR / dashboard.file).read_text())
    assert model == dashboards.render(dashboard), "stale: run `make docs`"
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids))
    for panel in model["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
        assert all(t["expr"] and t["refId"] for t in panel["targets"])
    variables = {v["name"]: v for v in model["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    for name in re.findall(r"\$(\w+)", json.dumps([t["expr"] for p in model["panels"] for t in p["targets"]])):
        assert name.startswith("__") or name in variables, f"${name} is not a variable of {dashboard.file}"


SELECTOR = re.compile(r"\b(jobq_[a-z_]+)(\{[^}]*\})?")
IN_NAMESPACE = 'namespace=~"$namespace"'


@pytest.mark.parametrize("dashboard", dashboards.DASHBOARDS, ids=lambda d: d.file)
def test_every_query_of_a_dashboard_keeps_to_the_chosen_namespaces(dashboard: dashboards.Dashboard) -> None:
    """A shared Prometheus holds several releases: each in its namespace, which the dashboard picks."""
    model = json.loads((dashboards.DIR / dashboard.file).read_text())
    variables = [v for v in model["templating"]["list"] if v["type"] == "query"]
    assert variables and variables[0]["name"] == "namespace", "the first variable picks the namespaces"
    assert re.fullmatch(r"label_values\(jobq_\w+, namespace\)", variables[0]["definition"])
    queries = [(p["title"], t["expr"]) for p in model["panels"] for t in p["targets"]]
    queries += [(f"${v['name']}", v["definition"]) for v in variables[1:]]
    for where, expr in queries:
        selectors = SELECTOR.findall(expr)
        assert selectors, where
        for metric, matchers in selectors:
            assert IN_NAMESPACE in matchers, f"{dashboard.file} / {where}: {metric} is not filtered by $namespace"
