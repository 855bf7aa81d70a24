"""The WorkerScaler CRD (charts/jobq/crds/workerscaler.yaml) in a real API server:
it installs, defaults what a user leaves out, and rejects bad specs naming the field."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.k8s.kube import Kube

CRD = Path(__file__).resolve().parents[2] / "charts" / "jobq" / "crds" / "workerscaler.yaml"
CRD_NAME = "workerscalers.autoscaling.jobq.dev"


def install_crd(kube: Kube) -> None:
    """Apply the CRD (idempotent across tests) and wait until the API server serves it."""
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    kube.kubectl("wait", f"crd/{CRD_NAME}", "--for=condition=Established", "--timeout=60s")


def scaler(name: str, **spec: Any) -> dict[str, Any]:
    """A WorkerScaler manifest with `spec`."""
    return {
        "apiVersion": "autoscaling.jobq.dev/v1alpha1",
        "kind": "WorkerScaler",
        "metadata": {"name": name},
        "spec": spec,
    }


def apply(kube: Kube, namespace: str, manifest: dict[str, Any], *, check: bool = True) -> Any:
    """`kubectl apply` one object; the CompletedProcess."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="jobq-ws-") as f:
        json.dump(manifest, f)
        f.flush()
        return kube.kubectl("apply", "-n", namespace, "-f", f.name, check=check)


def test_a_minimal_workerscaler_is_accepted_and_defaulted(kube: Kube, namespace: str) -> None:
    install_crd(kube)
    apply(kube, namespace, scaler("workers", targetRef={"name": "jobq-worker"}, maxReplicas=5))

    found = kube.get("workerscaler", "workers", "-n", namespace)
    spec = found["spec"]
    assert spec["targetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "jobq-worker"}
    assert spec["queues"] == ["default"]
    assert spec["minReplicas"] == 0
    assert spec["pollIntervalSeconds"] == 5
    assert spec["paused"] is False
    assert spec["scaleUp"]["maxStep"] >= 1 and spec["scaleDown"]["stabilizationWindowSeconds"] >= 0
    # The short name and the printer columns.
    table = kube.kubectl("get", "ws", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "QUEUES", "REPLICAS", "DESIRED", "READY", "OLDEST", "AGE"]
    assert table[1].split()[:2] == ["workers", '["default"]']


def test_the_status_is_a_subresource(kube: Kube, namespace: str) -> None:
    install_crd(kube)
    apply(kube, namespace, scaler("workers", targetRef={"name": "w"}, maxReplicas=3))
    # A status written through the main resource is dropped; through /status it sticks.
    kube.kubectl("patch", "ws", "workers", "-n", namespace, "--type=merge", "-p", '{"status": {"desiredReplicas": 2}}')
    assert "status" not in kube.get("ws", "workers", "-n", namespace)
    kube.kubectl(
        "patch", "ws", "workers", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", '{"status": {"desiredReplicas": 2, "ready": 40}}',
    )  # fmt: skip
    assert kube.get("ws", "workers", "-n", namespace)["status"] == {"desiredReplicas": 2, "ready": 40}


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ({"targetRef": {"name": "w"}, "minReplicas": 5, "maxReplicas": 2}, "spec.minReplicas"),
        ({"targetRef": {"name": "w"}, "minReplicas": -1, "maxReplicas": 2}, "spec.minReplicas"),
        ({"targetRef": {"name": "w"}, "maxReplicas": 0}, "spec.maxReplicas"),
        ({"targetRef": {"name": "w"}, "maxReplicas": 2, "jobsPerWorker": 0}, "spec.jobsPerWorker"),
        ({"targetRef": {"name": "w"}, "maxReplicas": 2, "targetLatencySeconds": 0}, "spec.targetLatencySeconds"),
        ({"targetRef": {"name": "w"}, "maxReplicas": 2, "pollIntervalSeconds": 0.5}, "spec.pollIntervalSeconds"),
        ({"targetRef": {"name": "w"}, "maxReplicas": 2, "cooldownSeconds": -5}, "spec.cooldownSeconds"),
        ({"targetRef": {"name": "w"}, "maxReplicas": 2, "scaleDown": {"maxStep": 0}}, "spec.scaleDown.maxStep"),
        (
            {"targetRef": {"name": "w"}, "maxReplicas": 2, "scaleUp": {"stabilizationWindowSeconds": -1}},
            "spec.scaleUp.stabilizationWindowSeconds",
        ),
        ({"maxReplicas": 2}, "spec.targetRef"),
        ({"targetRef": {"name": "w"}}, "spec.maxReplicas"),
        ({"targetRef": {"name": "w", "kind": "StatefulSet"}, "maxReplicas": 2}, "spec.targetRef.kind"),
        ({"targetRef": {"name": "w"}, "maxReplicas": 2, "connection": {}}, "spec.connection.secretName"),
    ],
)
def test_a_bad_spec_is_rejected_naming_the_field(kube: Kube, namespace: str, spec: dict[str, Any], named: str) -> None:
    install_crd(kube)
    refused = apply(kube, namespace, scaler("bad", **spec), check=False)

    assert refused.returncode != 0
    assert "is invalid" in refused.stderr
    assert named in refused.stderr, refused.stderr
    assert kube.kubectl("get", "ws", "bad", "-n", namespace, check=False).returncode != 0
