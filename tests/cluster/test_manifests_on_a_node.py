"""`kubectl apply -k` of the plain manifests (k8s/) on a fresh namespace of a real node, as a
user without Helm would: every pod ready without a restart, the migration Job complete, and a
job sent to the api Service run by a worker pod."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import httpx
import pytest
import yaml

from tests.cluster.conftest import NodeCluster
from tests.cluster.stack import Stack, ready, restarts
from tools.kube import manifests

pytestmark = pytest.mark.timeout(900)

# k8s/ names everything after the release `jobq`.
INSTANCE = FULLNAME = "jobq"
# The overlay points the manifests' image names at the images built here.
LOCAL_IMAGES = [
    {"name": "jobq-api", "newName": "localhost/jobq-api", "newTag": "dev"},
    {"name": "jobq-worker", "newName": "localhost/jobq-worker", "newTag": "dev"},
    {"name": "jobq-operator", "newName": "localhost/jobq-operator", "newTag": "dev"},
    {"name": "postgres", "newName": "localhost/jobq-postgresql", "newTag": "15"},
    {"name": "redis", "newName": "localhost/jobq-redis", "newTag": "7.0"},
]


@pytest.fixture(scope="module")
def applied(
    node_cluster: NodeCluster, images: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """k8s/ applied through an overlay that moves it to a fresh namespace and names the local images."""
    namespace = f"jobq-manifests-{uuid.uuid4().hex[:8]}"
    overlay = tmp_path_factory.mktemp("overlay")
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": namespace,
                "resources": [os.path.relpath(manifests.OUT, overlay)],
                "images": LOCAL_IMAGES,
            }
        )
    )
    # The CRD first (kubectl maps every kind before it applies anything), then the rest.
    node_cluster.kubectl("apply", "-k", str(manifests.OUT / "crds"))
    node_cluster.kubectl("wait", "--for=condition=Established", "crd/workerscalers.autoscaling.jobq.dev")
    node_cluster.kubectl("apply", "-k", str(overlay))
    stack = Stack(node_cluster, namespace, INSTANCE, FULLNAME)
    try:
        waits = ("--timeout=360s", "-n", namespace)
        node_cluster.kubectl("wait", "--for=condition=Complete", "job", "--all", *waits, timeout_s=400)
        node_cluster.kubectl("wait", "--for=condition=Available", "deployment", "--all", *waits, timeout_s=400)
        stack.connect()
        yield stack
    finally:
        node_cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def test_kubectl_apply_k_runs_every_pod_and_a_job_through_the_api_service(applied: Stack) -> None:
    pods = applied.pods()
    components = {p["metadata"]["labels"]["app.kubernetes.io/component"] for p in pods}
    assert {"api", "worker", "operator", "postgresql", "redis", "migration"} <= components
    running = [p for p in pods if p["status"].get("phase") != "Succeeded"]
    assert [p["metadata"]["name"] for p in running if not ready(p)] == []
    assert {p["metadata"]["name"]: restarts(p) for p in running if restarts(p)} == {}

    worker_pods = {p["metadata"]["name"] for p in applied.pods("worker")}
    with httpx.Client(timeout=10) as client:
        job = applied.submit(client, {"type": "jobq.noop", "tags": ["manifests"]})
        done = applied.wait_for_status(client, job["id"], {"succeeded", "dead"})
    assert done["status"] == "succeeded", done
    assert any(done["worker_id"].startswith(f"{pod}-") for pod in worker_pods), done["worker_id"]
