"""k8s/: the chart rendered into plain manifests for `kubectl apply -k k8s/`."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from tests.k8s.kube import Kube
from tools.kube import manifests


def test_the_manifests_match_the_chart(kube: Kube) -> None:
    wanted = manifests.render(kube.cluster.bin_dir / "helm")
    drift = manifests.differences(wanted, manifests.current())
    assert not drift, "k8s/ is out of date with charts/jobq: run `make manifests`\n" + "\n".join(drift)
    # Plain manifests carry no Helm hooks and no random passwords (re-rendering gives the same files).
    for name, text in wanted.items():
        assert "helm.sh/hook" not in text, name
    assert manifests.render(kube.cluster.bin_dir / "helm") == wanted


def test_the_drift_check_names_the_files_and_the_fix(tmp_path: Path) -> None:
    wanted = {"a.yaml": "x\n", "b.yaml": "y\n"}
    have = {"a.yaml": "x\n", "b.yaml": "changed\n", "old.yaml": "z\n"}
    assert manifests.differences(wanted, have) == ["k8s/old.yaml: not generated from the chart any more",
                                                   "k8s/b.yaml: differs"]  # fmt: skip
    assert manifests.differences(wanted, {"a.yaml": "x\n"}) == ["k8s/b.yaml: missing"]


def test_kubectl_apply_k_on_a_fresh_namespace(kube: Kube, namespace: str, tmp_path: Path) -> None:
    # An overlay that moves everything to the test's namespace, as a user would.
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "namespace": namespace,
            "resources": [os.path.relpath(manifests.OUT, overlay)],
        })
    )  # fmt: skip
    # The CRD first (kubectl maps every kind before it applies anything), then the rest.
    kube.kubectl("apply", "-k", str(manifests.OUT / "crds"))
    kube.kubectl("wait", "--for=condition=Established", "crd/workerscalers.autoscaling.jobq.dev", "--timeout=60s")
    kube.kubectl("apply", "-k", str(overlay))

    expected = list(yaml.safe_load_all(kube.kubectl("kustomize", str(overlay)).stdout))
    namespaced = [o for o in expected if o["kind"] not in ("Namespace", "CustomResourceDefinition")]
    assert {o["metadata"]["namespace"] for o in namespaced} == {namespace}
    for obj in namespaced:
        kind = f"{obj['kind'].lower()}.{obj['apiVersion'].split('/')[0]}" if "/" in obj["apiVersion"] else obj["kind"]
        assert kube.get(kind, obj["metadata"]["name"], "-n", namespace)["metadata"]["uid"], obj["metadata"]["name"]
    kinds = {o["kind"] for o in namespaced}
    assert {"Deployment", "StatefulSet", "Job", "WorkerScaler", "Role", "RoleBinding", "ServiceAccount"} <= kinds

    # The controllers turn the Deployments into ReplicaSets and Pods (Pending: no node), the
    # migration Job and the StatefulSets into Pods too.
    def components() -> set[str]:
        pods = kube.get("pods", "-l", "app.kubernetes.io/instance=jobq", "-n", namespace)["items"]
        return {p["metadata"]["labels"]["app.kubernetes.io/component"] for p in pods}

    everything = {"api", "worker", "operator", "migration", "postgresql", "redis"}
    kube.until(lambda: components() == everything, timeout_s=60, what="a pod of each component")
    replica_sets = kube.get("replicasets", "-n", namespace)["items"]
    owners = {ref["name"] for rs in replica_sets for ref in rs["metadata"]["ownerReferences"]}
    assert owners == {"jobq-api", "jobq-worker", "jobq-operator"}

    # The operator's RoleBinding follows the move: its account may read the URLs Secret here.
    account = f"system:serviceaccount:{namespace}:jobq-operator"
    answer = kube.kubectl("auth", "can-i", "get", "secrets/jobq", f"--as={account}", "-n", namespace, check=False)
    assert answer.stdout.strip() == "yes", answer.stderr

    # Applying again changes no workload (the generations stay) and the migration Job,
    # whose template cannot change, is accepted as it is.
    def generations() -> dict[str, int]:
        found = kube.get("deployments,statefulsets,jobs", "-n", namespace)["items"]
        return {f"{o['kind']}/{o['metadata']['name']}": o["metadata"]["generation"] for o in found}

    before = generations()
    kube.kubectl("apply", "-k", str(overlay))
    assert generations() == before
