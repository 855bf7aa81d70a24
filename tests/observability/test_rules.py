"""The alert rules: valid for promtool, unit-tested firing and not firing, with runbooks,
and kept apart per release (namespace) in a shared Prometheus."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "charts" / "jobq" / "alerts" / "jobq.rules.yaml"
RULE_TESTS = Path(__file__).parent / "rules" / "jobq.rules.test.yaml"
ALERTS = {
    "JobqQueueLatencyHigh",
    "JobqFailureRatioHigh",
    "JobqDeadJobsGrowing",
    "JobqNoLiveWorkers",
    "JobqLeaderMissing",
    "JobqOperatorNotScaling",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is not on PATH: run `make prometheus`"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120, check=False)


def rules() -> list[dict[str, object]]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def test_promtool_checks_the_rule_file() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    """A rule file with a broken expression fails the same unit tests."""
    broken = tmp_path / "broken.rules.yaml"
    broken.write_text(RULES.read_text().replace("jobq_queue_oldest_ready_age_seconds) > 300", "x) > 300"))
    spec = yaml.safe_load(RULE_TESTS.read_text())
    spec["rule_files"] = [str(broken)]
    tests = tmp_path / "broken.rules.test.yaml"
    tests.write_text(yaml.safe_dump(spec))
    result = promtool("test", "rules", str(tests))
    assert result.returncode != 0
    assert "JobqQueueLatencyHigh" in result.stdout + result.stderr


def test_every_alert_has_a_runbook_and_tests_firing_and_quiet() -> None:
    assert {r["alert"] for r in rules()} == ALERTS
    for rule in rules():
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        # runbook_url is the annotation Alertmanager templates and Grafana look for.
        assert {"summary", "description", "runbook_url"} == set(annotations), rule["alert"]
        assert len(str(annotations["runbook_url"])) > 100, rule["alert"]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    assert firing == ALERTS
    assert quiet == ALERTS


AGGREGATION = re.compile(r"\b(sum|count|max|min|avg|group)\b\s*(?:by\s*\(([^)]*)\))?\s*\(")
MATCHING = re.compile(r"\b(?:on|ignoring)\s*\(([^)]*)\)")


def test_every_aggregation_of_an_alert_keeps_the_namespace() -> None:
    """In a shared Prometheus, a sum or count across namespaces lets one release hide another's trouble."""
    for rule in rules():
        expr = str(rule["expr"])
        aggregations = AGGREGATION.findall(expr)
        assert aggregations, rule["alert"]
        for operator, by in aggregations:
            assert "namespace" in by.replace(" ", "").split(","), f"{rule['alert']}: {operator} without namespace"
        for on in MATCHING.findall(expr):
            assert "namespace" in on, f"{rule['alert']}: a vector match that ignores the namespace"
        assert "vector(" not in expr, f"{rule['alert']}: vector() has no namespace"
