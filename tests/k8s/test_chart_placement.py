"""Where the chart's pods may run and what may evict them: priority classes, topology spread, PodDisruptionBudgets.

The controllers create the pods (Pending: no node), so the API server's admission
(a PriorityClass resolved into `spec.priority`) and the disruption controller's
budget are real; a pod is made Running-but-not-Ready by writing its status, as a
kubelet would for a pod failing its readiness probe, to try evictions against the budget.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Callable
from typing import Any

from tests.k8s.kube import Kube
from tests.k8s.test_chart import INSTANCE, install, rendered, selector

COMPONENTS = ("api", "worker", "operator")


def pods(kube: Kube, namespace: str, component: str) -> list[dict[str, Any]]:
    """The release's live pods of one component."""
    found = kube.get("pods", "-l", f"{INSTANCE},app.kubernetes.io/component={component}", "-n", namespace)
    return [p for p in found["items"] if "deletionTimestamp" not in p["metadata"]]


def budget(
    kube: Kube, namespace: str, component: str, wanted: Callable[[dict[str, Any]], bool] = lambda _: True
) -> dict[str, Any]:
    """The component's PodDisruptionBudget once the disruption controller computed its status (and `wanted` holds)."""

    def observed() -> dict[str, Any] | None:
        pdb: dict[str, Any] = kube.get("pdb", f"demo-jobq-{component}", "-n", namespace)
        current = pdb.get("status", {}).get("observedGeneration") == pdb["metadata"]["generation"]
        return pdb if current and wanted(pdb) else None

    return kube.until(observed, what=f"the {component} PodDisruptionBudget's status")


def running_not_ready(kube: Kube, namespace: str, pod: str) -> None:
    """Mark `pod` Running but not Ready, as a kubelet reports a pod failing its readiness probe."""
    status = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}}
    kube.kubectl("patch", "pod", pod, "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(status))


def evict(kube: Kube, namespace: str, pod: str) -> tuple[bool, str]:
    """Ask the eviction API (what `kubectl drain` uses) to evict `pod`: (accepted, kubectl's error)."""
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": namespace}}
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="jobq-evict-") as f:
        json.dump(eviction, f)
        f.flush()
        answer = kube.kubectl(
            "create", "--raw", f"/api/v1/namespaces/{namespace}/pods/{pod}/eviction", "-f", f.name, check=False
        )
    return answer.returncode == 0, answer.stderr


def test_by_default_two_api_pods_and_budgets_that_protect_one_and_let_unhealthy_pods_go(
    kube: Kube, namespace: str
) -> None:
    install(kube, namespace)

    assert kube.get("deployment", "demo-jobq-api", "-n", namespace)["spec"]["replicas"] == 2
    api = budget(kube, namespace, "api", lambda pdb: pdb["status"].get("expectedPods") == 2)
    assert api["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    # The budget guards one of the two pods: a drain may take one, never both.
    assert (api["status"]["expectedPods"], api["status"]["desiredHealthy"]) == (2, 1)
    assert budget(kube, namespace, "worker")["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    for component in COMPONENTS:
        spec = kube.get("deployment", f"demo-jobq-{component}", "-n", namespace)["spec"]["template"]["spec"]
        assert "priorityClassName" not in spec, component
        assert "topologySpreadConstraints" not in spec, component

    # No api pod is Ready, so the budget has no disruption to spare; a pod that runs but
    # fails its readiness probe serves nothing, and a drain may still evict it.
    stuck = pods(kube, namespace, "api")[0]["metadata"]["name"]
    running_not_ready(kube, namespace, stuck)
    accepted, error = evict(kube, namespace, stuck)
    assert accepted, error
    kube.until(lambda: stuck not in {p["metadata"]["name"] for p in pods(kube, namespace, "api")},
               what="the evicted pod to go")  # fmt: skip

    # IfHealthyBudget (Kubernetes' default) keeps it while the budget is short of healthy pods.
    install(kube, namespace, "api.podDisruptionBudget.unhealthyPodEvictionPolicy=IfHealthyBudget", command="upgrade")
    budget(kube, namespace, "api", lambda pdb: pdb["spec"].get("unhealthyPodEvictionPolicy") == "IfHealthyBudget")
    kept = kube.until(lambda: [p["metadata"]["name"] for p in pods(kube, namespace, "api")][:1], what="an api pod")[0]
    running_not_ready(kube, namespace, kept)
    accepted, error = evict(kube, namespace, kept)
    assert not accepted
    assert "would violate the pod's disruption budget" in error, error


def test_priority_classes_and_topology_spread_reach_every_components_pods(kube: Kube, namespace: str) -> None:
    priority = f"jobq-test-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "priorityclass", priority, "--value=4242", "--description=tests/k8s")
    try:
        sets = []
        for component in COMPONENTS:
            sets += [
                f"{component}.priorityClassName={priority}",
                # One constraint left to the chart's selector, one with a selector of its own.
                f"{component}.topologySpreadConstraints[0].maxSkew=1",
                f"{component}.topologySpreadConstraints[0].topologyKey=kubernetes.io/hostname",
                f"{component}.topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway",
                f"{component}.topologySpreadConstraints[0].matchLabelKeys[0]=pod-template-hash",
                f"{component}.topologySpreadConstraints[1].maxSkew=2",
                f"{component}.topologySpreadConstraints[1].topologyKey=topology.kubernetes.io/zone",
                f"{component}.topologySpreadConstraints[1].whenUnsatisfiable=DoNotSchedule",
                f"{component}.topologySpreadConstraints[1].labelSelector.matchLabels.app\\.kubernetes\\.io/part-of=jobq",
            ]
        install(kube, namespace, *sets)

        deployments = {o["metadata"]["name"]: o for o in rendered(kube, namespace) if o["kind"] == "Deployment"}
        for component in COMPONENTS:
            spec = deployments[f"demo-jobq-{component}"]["spec"]["template"]["spec"]
            assert spec["priorityClassName"] == priority, component
            own, shared = spec["topologySpreadConstraints"]
            assert (own["maxSkew"], own["topologyKey"], own["whenUnsatisfiable"]) == (
                1, "kubernetes.io/hostname", "ScheduleAnyway",
            )  # fmt: skip
            assert own["matchLabelKeys"] == ["pod-template-hash"]
            assert shared["labelSelector"] == {"matchLabels": {"app.kubernetes.io/part-of": "jobq"}}, component

            # The admission plugin resolved the class into each pod's priority, and the
            # filled-in selector picks exactly this component's pods.
            made = kube.until(lambda c=component: pods(kube, namespace, c), what=f"{component} pods")
            assert {p["spec"]["priority"] for p in made} == {4242}, component
            assert {p["spec"]["priorityClassName"] for p in made} == {priority}, component
            chosen = kube.get("pods", "-l", selector(own["labelSelector"]), "-n", namespace)["items"]
            assert chosen, component
            assert {p["metadata"]["labels"]["app.kubernetes.io/component"] for p in chosen} == {component}
            assert {p["metadata"]["labels"]["app.kubernetes.io/instance"] for p in chosen} == {"demo"}
    finally:
        kube.helm("uninstall", "demo", "-n", namespace, check=False)
        kube.kubectl("delete", "priorityclass", priority, "--wait=false", check=False)
