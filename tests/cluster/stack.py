"""A jobq installed on the node (by the chart or by `k8s/`), seen from the test: its pods,
its api Service, an API key, and jobs sent through it."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.cluster.conftest import NodeCluster


def ready(pod: dict[str, Any]) -> bool:
    """Whether the pod's Ready condition holds."""
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def restarts(pod: dict[str, Any]) -> int:
    """How often the pod's containers restarted."""
    return sum(c.get("restartCount", 0) for c in pod.get("status", {}).get("containerStatuses", []))


@dataclass
class Stack:
    """jobq in one namespace of the node, its objects named `<fullname>-<component>`."""

    node: NodeCluster
    namespace: str
    instance: str
    fullname: str
    api_url: str = ""
    auth: dict[str, str] | None = None

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.node.kubectl(*args, "-n", self.namespace, "-o", "json"))

    def pods(self, component: str | None = None) -> list[dict[str, Any]]:
        """The stack's live pods, of one component or all."""
        selector = f"app.kubernetes.io/instance={self.instance}"
        if component is not None:
            selector += f",app.kubernetes.io/component={component}"
        found = self.kubectl_json("get", "pods", "-l", selector)["items"]
        return [p for p in found if "deletionTimestamp" not in p["metadata"]]

    def connect(self) -> None:
        """Find the api Service's address and create an API key in the api pod (`jobq create-key`)."""
        service = self.kubectl_json("get", "service", f"{self.fullname}-api")
        self.api_url = f"http://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}"
        key = self.node.kubectl(
            *("exec", "-n", self.namespace, f"deploy/{self.fullname}-api", "--"),
            *("python", "-m", "jobq_core.cli", "create-key", "--name", "e2e"),
            *("--scope", "jobs:read", "--scope", "jobs:write"),
        ).strip()
        self.auth = {"Authorization": f"Bearer {key}"}

    def submit(self, client: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
        """POST a job through the api Service; the created job."""
        response = client.post(f"{self.api_url}/v1/jobs", json=job, headers=self.auth)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def wait_for_status(
        self, client: httpx.Client, job_id: str, statuses: set[str], timeout_s: float = 60
    ) -> dict[str, Any]:
        """Poll the job until it reaches one of `statuses`."""
        deadline = time.monotonic() + timeout_s
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            job = client.get(f"{self.api_url}/v1/jobs/{job_id}", headers=self.auth).json()
            if job["status"] in statuses:
                return job
            time.sleep(0.2)
        pytest.fail(f"job {job_id} not in {statuses} within {timeout_s}s: {job}")


def helm(node: NodeCluster, *args: str, check: bool = True, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    """Run helm against the cluster; with `check`, a failure with what it said unless it exits 0."""
    result = subprocess.run(
        [str(node.cluster.bin_dir / "helm"), *args],
        capture_output=True,
        text=True,
        env=node.cluster.env(),
        timeout=timeout_s,
        check=False,
    )
    if check:
        assert result.returncode == 0, (
            f"helm {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result
