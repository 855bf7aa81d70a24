"""The chart's linters (tools/chartlint: kube-score, checkov, pint on renders of the chart) and
the defects they found, each held here by a test of its own: the api and worker pods spread
over nodes, the bundled servers' liveness probes ask only whether they listen, and the alert
rules state no field at its default. The linters must pass on the chart, fail on a bad render,
and give every exception a reason.

The linters are built on first use (tools/chartlint/build.sh, a few minutes on a cold
machine, cached outside the checkout); rendering needs only helm, no API server.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s.test_chart import CHART, RELEASE, helm_args
from tools.chartlint import config
from tools.kube.binaries import build_binaries

ROOT = Path(__file__).resolve().parents[2]
# A cold machine builds kube-score, pint and checkov's venv first (about two minutes here).
LINT_TIMEOUT_S = 900


@functools.cache
def helm() -> str:
    """The helm that tools/kube/build.sh builds (or finds in its cache)."""
    return str(build_binaries(groups=("helm",)) / "helm")


def render(*sets: str) -> dict[str, dict[str, Any]]:
    """`helm template` of the chart with `sets`, each object by `Kind/name`."""
    stream = subprocess.run(
        [helm(), "template", RELEASE, CHART, *helm_args(*sets)], capture_output=True, text=True, check=True
    ).stdout
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in yaml.safe_load_all(stream) if o}


def pod_spec(objects: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    """The pod template spec of one rendered controller."""
    spec: dict[str, Any] = objects[name]["spec"]["template"]["spec"]
    return spec


def chartlint(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m tools.chartlint` as `make lint` does."""
    return subprocess.run(
        [sys.executable, "-m", "tools.chartlint", *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=LINT_TIMEOUT_S,
        check=False,
    )


def test_api_and_worker_pods_prefer_different_nodes_by_default() -> None:
    objects = render()
    for component in ("api", "worker"):
        deployment = objects[f"Deployment/{RELEASE}-jobq-{component}"]
        affinity = pod_spec(objects, f"Deployment/{RELEASE}-jobq-{component}")["affinity"]
        [preferred] = affinity["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        assert preferred["weight"] == 100
        term = preferred["podAffinityTerm"]
        assert term["topologyKey"] == "kubernetes.io/hostname"
        # Exactly this component's pods of this release repel each other.
        assert term["labelSelector"] == {"matchLabels": deployment["spec"]["selector"]["matchLabels"]}
        assert term["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == component
    # One operator pod: nothing to spread.
    assert "affinity" not in pod_spec(objects, f"Deployment/{RELEASE}-jobq-operator")


def test_the_anti_affinity_can_be_required_kept_beside_a_node_affinity_replaced_or_left_out() -> None:
    node = "worker.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
    own = "api.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]"
    objects = render(
        "api.podAntiAffinityPreset=hard",
        f"{node}.matchExpressions[0].key=pool",
        f"{node}.matchExpressions[0].operator=In",
        f"{node}.matchExpressions[0].values[0]=jobs",
    )
    api = pod_spec(objects, f"Deployment/{RELEASE}-jobq-api")["affinity"]
    [required] = api["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required["topologyKey"] == "kubernetes.io/hostname"
    assert "preferredDuringSchedulingIgnoredDuringExecution" not in api["podAntiAffinity"]
    worker = pod_spec(objects, f"Deployment/{RELEASE}-jobq-worker")["affinity"]
    assert worker["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["jobs"]}]}
    ]
    assert worker["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"] == 100

    # An affinity with a podAntiAffinity of its own is taken as it is; an empty preset adds none.
    objects = render(
        f"{own}.weight=5",
        f"{own}.podAffinityTerm.topologyKey=topology.kubernetes.io/zone",
        f"{own}.podAffinityTerm.labelSelector.matchLabels.app\\.kubernetes\\.io/part-of=jobq",
        "worker.podAntiAffinityPreset=",
    )
    api = pod_spec(objects, f"Deployment/{RELEASE}-jobq-api")["affinity"]
    [preferred] = api["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert (preferred["weight"], preferred["podAffinityTerm"]["topologyKey"]) == (5, "topology.kubernetes.io/zone")
    assert "affinity" not in pod_spec(objects, f"Deployment/{RELEASE}-jobq-worker")


def test_a_bad_anti_affinity_preset_is_rejected_naming_the_value() -> None:
    result = subprocess.run(
        [helm(), "template", RELEASE, CHART, *helm_args("worker.podAntiAffinityPreset=always")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "worker/podAntiAffinityPreset" in result.stderr, result.stderr


def test_the_bundled_servers_liveness_asks_only_whether_they_listen() -> None:
    objects = render()
    for server, ready in (("postgresql", "pg_isready"), ("redis", "redis-cli")):
        [container] = pod_spec(objects, f"StatefulSet/{RELEASE}-jobq-{server}")["containers"]
        # Readiness asks the server to answer; liveness must not kill one still recovering or loading.
        assert container["readinessProbe"]["exec"]["command"][0] == ready
        assert container["livenessProbe"]["tcpSocket"] == {"port": server}
        assert "exec" not in container["livenessProbe"]
        assert {p["name"] for p in container["ports"]} == {server}


@pytest.mark.timeout(LINT_TIMEOUT_S)
def test_the_chart_passes_kube_score_checkov_and_pint() -> None:
    result = chartlint()
    assert result.returncode == 0, result.stderr
    assert "found nothing in 4 renders of charts/jobq" in result.stdout


BAD_MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: careless
  labels: {app.kubernetes.io/component: careless}
spec:
  replicas: 3
  selector:
    matchLabels: {app: careless}
  template:
    metadata:
      labels: {app: careless, app.kubernetes.io/component: careless}
    spec:
      hostNetwork: true
      containers:
        - name: app
          image: example/app:latest
          securityContext:
            privileged: true
"""

BAD_RULES = """\
groups:
  - name: careless
    rules:
      - alert: SomethingFails
        expr: sum(rate(failures_total[5m])) > 1
        labels:
          severity: page
"""


@pytest.mark.timeout(LINT_TIMEOUT_S)
def test_the_linters_fail_on_a_bad_render_naming_each_finding(tmp_path: Path) -> None:
    manifest = tmp_path / "careless.yaml"
    manifest.write_text(BAD_MANIFEST)
    rules = tmp_path / "careless.rules.yaml"
    rules.write_text(BAD_RULES)

    result = chartlint("--manifests", str(manifest), "--rules", str(rules))

    assert result.returncode == 1, result.stdout + result.stderr
    found = result.stderr.splitlines()
    for expected in (
        # kube-score: no requests or limits, a privileged container, no readiness probe to keep.
        "kube-score [careless] Deployment/careless: container-resources: app: CPU request is not set",
        "kube-score [careless] Deployment/careless: container-security-context-privileged:",
        # checkov: a privileged container on the host's network.
        "checkov [careless] Deployment/careless: CKV_K8S_16: Container should not be privileged",
        "checkov [careless] Deployment/careless: CKV_K8S_19: Containers should not share the host network namespace",
        # pint (tools/chartlint/pint.hcl): the aggregation drops `namespace`, no annotations,
        # a severity no route knows.
        "pint [careless.rules] rules/careless.rules.yaml:5: promql/aggregate:",
        "pint [careless.rules] rules/careless.rules.yaml:4: alerts/annotation:",
        "pint [careless.rules] rules/careless.rules.yaml:7: rule/label:",
    ):
        assert any(line.strip().startswith(expected) for line in found), f"{expected!r} not in:\n{result.stderr}"


def test_every_exception_has_a_reason_and_one_that_matches_nothing_fails(tmp_path: Path) -> None:
    for name in ("kube-score.toml", "checkov.toml"):
        loaded = config.load(ROOT / "tools" / "chartlint" / name)
        assert loaded.ignores, name
        assert all(len(ignore.reason) > 40 for ignore in loaded.ignores), name

    settings = tmp_path / "tool.toml"
    settings.write_text('[[ignore]]\ncheck = "CKV_K8S_8"\nreason = " "\n')
    with pytest.raises(config.ConfigError, match="reason"):
        config.load(settings)

    settings.write_text('[[ignore]]\ncheck = "CKV_K8S_8"\ncomponents = ["test"]\nreason = "runs once to completion"\n')
    loaded = config.load(settings)
    probe = config.Finding("checkov", "defaults", "Pod", "jobq-test", "test", "CKV_K8S_8", "no liveness probe")
    elsewhere = config.Finding("checkov", "defaults", "Deployment", "jobq-api", "api", "CKV_K8S_8", "no liveness probe")
    assert loaded.keep([probe, elsewhere]) == [elsewhere]
    assert loaded.unused() == []
    assert [f.check for f in config.load(settings).unused()] == ["unused-ignore"]
