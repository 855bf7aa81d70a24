"""The local control plane is a real Kubernetes: API server, controllers, RBAC, helm."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from tests.k8s.kube import Kube
from tools.kube.binaries import versions


def test_api_server_and_kubectl_are_the_pinned_release(kube: Kube) -> None:
    answer = json.loads(kube.kubectl("version", "-o", "json").stdout)

    pinned = versions()["KUBE_VERSION"]
    assert answer["serverVersion"]["gitVersion"] == pinned
    assert answer["clientVersion"]["gitVersion"] == pinned


def test_controller_manager_turns_a_deployment_into_a_replicaset_and_pods(kube: Kube, namespace: str) -> None:
    # No node exists, so the image is never pulled and the Pods stay Pending.
    kube.kubectl("create", "deployment", "web", "--image=registry.invalid/jobq/none:1", "--replicas=2", "-n", namespace)

    # A watch on the Deployment's status, which the deployment controller fills in.
    kube.kubectl("wait", "deployment/web", "--for=jsonpath={.status.replicas}=2", "--timeout=60s", "-n", namespace)

    replica_sets = kube.get("replicasets", "-l", "app=web", "-n", namespace)["items"]
    assert [(o["kind"], o["name"]) for rs in replica_sets for o in rs["metadata"]["ownerReferences"]] == [
        ("Deployment", "web")
    ]
    pods = kube.get("pods", "-l", "app=web", "-n", namespace)["items"]
    assert len(pods) == 2
    assert {o["name"] for pod in pods for o in pod["metadata"]["ownerReferences"]} == {
        replica_sets[0]["metadata"]["name"]
    }
    assert {pod["status"]["phase"] for pod in pods} == {"Pending"}
    assert all("nodeName" not in pod["spec"] for pod in pods)


def test_rbac_denies_a_service_account_until_it_is_bound(kube: Kube, namespace: str) -> None:
    nobody = f"system:serviceaccount:{namespace}:nobody"

    def can_create_deployments() -> str:
        answer = kube.kubectl("auth", "can-i", "create", "deployments", f"--as={nobody}", "-n", namespace, check=False)
        return answer.stdout.strip()

    assert can_create_deployments() == "no"
    assert kube.kubectl("auth", "can-i", "create", "deployments", "-n", namespace).stdout.strip() == "yes"

    # `edit` is an aggregated ClusterRole: the controller-manager fills in its rules.
    kube.kubectl(
        "create", "rolebinding", "nobody-edits", "--clusterrole=edit", f"--serviceaccount={namespace}:nobody",
        "-n", namespace,
    )  # fmt: skip
    kube.until(lambda: can_create_deployments() == "yes", what="the RoleBinding to grant create deployments")
    other = f"system:serviceaccount:{namespace}:somebody-else"
    denied = kube.kubectl("auth", "can-i", "create", "deployments", f"--as={other}", "-n", namespace, check=False)
    assert denied.stdout.strip() == "no"


def test_helm_installs_a_chart_into_the_cluster(kube: Kube, namespace: str) -> None:
    assert kube.helm("version", "--short").stdout.startswith(versions()["HELM_VERSION"])

    with tempfile.TemporaryDirectory(prefix="jobq-helm-chart-") as tmp:
        chart = Path(tmp) / "demo"
        (chart / "templates").mkdir(parents=True)
        (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
        (chart / "values.yaml").write_text("greeting: hello\n")
        (chart / "templates" / "configmap.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n"
            "data:\n  greeting: {{ .Values.greeting | quote }}\n"
        )
        kube.helm("install", "demo", str(chart), "--set", "greeting=bonjour", "-n", namespace)

    config_map = kube.get("configmap", "demo-settings", "-n", namespace)
    assert config_map["data"] == {"greeting": "bonjour"}
    assert config_map["metadata"]["annotations"]["meta.helm.sh/release-name"] == "demo"
    releases = json.loads(kube.helm("list", "-n", namespace, "-o", "json").stdout)
    assert [(r["name"], r["status"]) for r in releases] == [("demo", "deployed")]
