"""The api's NetworkPolicy with `networkPolicy.apiFrom` set, as the values file's own
examples set it (and `networkPolicy.metricsFrom`): the ingress controller, Prometheus and
the chart's `helm test` pod reach the api's port, and other pods do not.

No enforcing CNI runs here, so the rendered policy (`helm template`, offline) is
evaluated the way Kubernetes evaluates one: a peer is admitted on a rule's ports when one
of the rule's `from` entries selects its namespace and its labels; named ports resolve
against the api container's ports.
"""

from __future__ import annotations

import functools
import re
import subprocess
from typing import Any

import pytest
import yaml

from tests.k8s.test_chart import CHART
from tests.k8s.test_validate import problems
from tools import chart_docs
from tools.kube.binaries import build_binaries

NAMESPACE = "jobq"
EXAMPLE = re.compile(r"`(\[\{.*?\}\])`")


def example(value: str) -> list[dict[str, Any]]:
    """The NetworkPolicy peers the `# --` comment of `value` in values.yaml gives as its example."""
    [documented] = [v for v in chart_docs.parse(chart_docs.VALUES.read_text()) if v.path == value]
    [flow] = EXAMPLE.findall(documented.description)
    peers: list[dict[str, Any]] = yaml.safe_load(flow)
    return peers


@functools.cache
def rendered() -> dict[tuple[str, str], dict[str, Any]]:
    """The chart's objects by (kind, name), with the network policy, monitoring and helm test on."""
    values = {
        "networkPolicy": {
            "enabled": True,
            "apiFrom": example("networkPolicy.apiFrom"),
            "metricsFrom": example("networkPolicy.metricsFrom"),
        },
        "monitoring": {"serviceMonitor": {"enabled": True}},
    }
    helm = build_binaries() / "helm"
    result = subprocess.run(
        [str(helm), "template", "demo", CHART, "-n", NAMESPACE, "--values", "-"],
        input=yaml.safe_dump(values), capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels and matchExpressions) selects `labels`."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for term in selector.get("matchExpressions", []):
        key, operator, wanted = term["key"], term["operator"], term.get("values", [])
        held = {
            "In": key in labels and labels[key] in wanted,
            "NotIn": key not in labels or labels[key] not in wanted,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not held:
            return False
    return True


def peer_matches(peer: dict[str, Any], namespace: str, pod_labels: dict[str, str]) -> bool:
    """Whether one `from` entry of a policy in NAMESPACE admits a pod of `namespace` with `pod_labels`."""
    if "ipBlock" in peer:
        return False  # pod traffic is matched by selectors; ipBlock is for outside the cluster
    namespace_labels = {"kubernetes.io/metadata.name": namespace}
    if "namespaceSelector" in peer:
        in_namespace = selects(peer["namespaceSelector"], namespace_labels)
    else:
        in_namespace = namespace == NAMESPACE  # a bare podSelector means the policy's own namespace
    return in_namespace and selects(peer.get("podSelector", {}), pod_labels)


def container_port(pod_spec: dict[str, Any], port: int | str) -> int:
    """A port number, or the number of the container port with that name."""
    if isinstance(port, int):
        return port
    [number] = [p["containerPort"] for c in pod_spec["containers"] for p in c.get("ports", []) if p["name"] == port]
    return int(number)


def admitted(namespace: str, pod_labels: dict[str, str]) -> set[int]:
    """The api pod's port numbers the api's NetworkPolicy opens to a pod of `namespace` with `pod_labels`."""
    objects = rendered()
    policy = objects[("NetworkPolicy", "demo-jobq-api")]["spec"]
    api = objects[("Deployment", "demo-jobq-api")]["spec"]["template"]
    assert selects(policy["podSelector"], api["metadata"]["labels"]), "the policy selects the api pods"
    assert policy["policyTypes"] == ["Ingress"]
    ports: set[int] = set()
    for rule in policy["ingress"]:
        peers = rule.get("from")
        if peers is None or any(peer_matches(p, namespace, pod_labels) for p in peers):
            ports |= {container_port(api["spec"], p["port"]) for p in rule["ports"]}
    return ports


def scraped_port() -> int:
    """The api pod port the ServiceMonitor's Prometheus scrapes: endpoint port -> Service -> container."""
    objects = rendered()
    [endpoint] = objects[("ServiceMonitor", "demo-jobq-api")]["spec"]["endpoints"]
    [service_port] = [
        p for p in objects[("Service", "demo-jobq-api")]["spec"]["ports"] if p["name"] == endpoint["port"]
    ]
    api = objects[("Deployment", "demo-jobq-api")]["spec"]["template"]["spec"]
    return container_port(api, service_port["targetPort"])


@pytest.fixture(scope="module")
def api_port() -> int:
    return scraped_port()


def test_the_examples_restrict_the_api_to_the_ingress_controller(api_port: int) -> None:
    policy = rendered()[("NetworkPolicy", "demo-jobq-api")]
    assert not problems(policy, {}), "a NetworkPolicy Kubernetes accepts (strict: no unknown field)"
    assert admitted("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}) == {api_port}
    assert admitted(NAMESPACE, {"app": "something-else"}) == set()
    assert admitted("default", {"app.kubernetes.io/name": "prometheus"}) == set()


def test_prometheus_in_the_monitoring_namespace_reaches_the_metrics_port(api_port: int) -> None:
    # /metrics is on the api's own port (the one the ServiceMonitor scrapes).
    assert admitted("monitoring", {"app.kubernetes.io/name": "prometheus", "prometheus": "k8s"}) == {api_port}
    assert admitted("monitoring", {"app.kubernetes.io/name": "grafana"}) == set()


def test_the_helm_test_pod_reaches_the_api(api_port: int) -> None:
    objects = rendered()
    test_pod = objects[("Pod", "demo-jobq-test-submit")]
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert admitted(NAMESPACE, test_pod["metadata"]["labels"]) == {api_port}
    # Another release's test pod, or this one's from another namespace, is not let in.
    other_release = {**test_pod["metadata"]["labels"], "app.kubernetes.io/instance": "other"}
    assert admitted(NAMESPACE, other_release) == set()
    assert admitted("elsewhere", test_pod["metadata"]["labels"]) == set()


def test_the_evaluator_follows_kubernetes_rules() -> None:
    """The checks above are only as good as this evaluation of selectors and peers."""
    assert selects({}, {"a": "1"})
    assert not selects({"matchLabels": {"a": "1"}}, {})
    assert selects({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"})
    assert not selects({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {"a": "1"})
    assert selects({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"b": "1"})
    assert peer_matches({"namespaceSelector": {}}, "anywhere", {"x": "y"})
    assert not peer_matches({"podSelector": {}}, "anywhere", {"x": "y"})
    assert peer_matches({"podSelector": {}}, NAMESPACE, {"x": "y"})
    assert not peer_matches({"ipBlock": {"cidr": "10.0.0.0/8"}}, NAMESPACE, {})
