"""The chart's pods on a real node: `helm install` with the images built here (tools/images),
jobs through the api Service run by worker pods, mail and webhooks reaching sinks on the
node's address, and a worker pod deleted mid-job whose job runs again on another pod.

The release is installed once for the module; its tests run in order against it.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from jobq_devrun.servers import free_port

from tests.cluster.conftest import NodeCluster
from tools.images.build import build_images
from tools.kube import host

pytestmark = pytest.mark.timeout(900)

CHART = str(Path(__file__).resolve().parents[2] / "charts" / "jobq")
RELEASE = "demo"
FULLNAME = f"{RELEASE}-jobq"
# A short heartbeat timeout, so a worker pod deleted mid-job is judged gone quickly.
WORKER_TIMEOUT_S = 10


@dataclass
class MailSink:
    """An SMTP server on the node's address: pods reach it, nothing outside the machine does."""

    delivered: list[Any] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = (envelope.original_content or b"").replace(b"\r\n", b"\n")
        self.delivered.append(message_from_bytes(raw, policy=policy.default))
        return "250 Message accepted for delivery"


class HookSink(ThreadingHTTPServer):
    """An HTTP server on the node's address that keeps each POST's path, headers and body."""

    def __init__(self, port: int) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        super().__init__((host.NODE_IP, port), _HookHandler)


class _HookHandler(BaseHTTPRequestHandler):
    server: HookSink

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.received.append((self.path, dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Release:
    """The installed release: the api Service's URL, an API key, and the sinks its workers reach."""

    node: NodeCluster
    namespace: str
    api_url: str
    auth: dict[str, str]
    mail: MailSink
    hooks: HookSink
    hook_url: str

    def helm(self, *args: str) -> str:
        return helm(self.node, *args, "-n", self.namespace)

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.node.kubectl(*args, "-n", self.namespace, "-o", "json"))

    def pods(self, component: str) -> list[dict[str, Any]]:
        selector = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component={component}"
        found = self.kubectl_json("get", "pods", "-l", selector)["items"]
        return [p for p in found if "deletionTimestamp" not in p["metadata"]]

    def submit(self, client: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
        response = client.post(f"{self.api_url}/v1/jobs", json=job, headers=self.auth)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def wait_for_status(
        self, client: httpx.Client, job_id: str, statuses: set[str], timeout_s: float = 60
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            job = client.get(f"{self.api_url}/v1/jobs/{job_id}", headers=self.auth).json()
            if job["status"] in statuses:
                return job
            time.sleep(0.2)
        pytest.fail(f"job {job_id} not in {statuses} within {timeout_s}s: {job}")


def helm(node: NodeCluster, *args: str, timeout_s: float = 600) -> str:
    """Run helm against the cluster; its output, or a failure with what it said."""
    result = subprocess.run(
        [str(node.cluster.bin_dir / "helm"), *args],
        capture_output=True,
        text=True,
        env=node.cluster.env(),
        timeout=timeout_s,
        check=False,
    )
    assert result.returncode == 0, f"helm {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
    return result.stdout


def ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def restarts(pod: dict[str, Any]) -> int:
    return sum(c.get("restartCount", 0) for c in pod.get("status", {}).get("containerStatuses", []))


@pytest.fixture(scope="module")
def images(node_cluster: NodeCluster) -> dict[str, str]:
    """The five images built here (a no-op when cached), loaded into the node: archive name → image name."""
    archives = build_images()
    names = node_cluster.cluster.load_images(list(archives.values()))
    return dict(zip(archives, names, strict=True))


@pytest.fixture(scope="module")
def release(node_cluster: NodeCluster, images: dict[str, str]) -> Iterator[Release]:
    """`helm install` of the chart, its defaults but for the image names, mail and webhook sinks."""
    mail = MailSink()
    smtp = Controller(mail, hostname=host.NODE_IP, port=free_port())
    smtp.start()
    hooks = HookSink(free_port())
    threading.Thread(target=hooks.serve_forever, daemon=True).start()
    namespace = f"jobq-e2e-{uuid.uuid4().hex[:8]}"
    node_cluster.kubectl("create", "namespace", namespace)
    values = {
        # The images are in the node's containerd under localhost/, as buildah names them.
        "image": {"registry": "localhost", "tag": "dev"},
        "postgresql": {"image": {"repository": "jobq-postgresql", "tag": "15"}},
        "redis": {"image": {"repository": "jobq-redis", "tag": "7.0"}},
        "passwordSeed": "e2e-" + uuid.uuid4().hex,
        "config": {
            "workerTimeoutSeconds": WORKER_TIMEOUT_S,
            "extraEnv": {
                "JOBQ_SMTP_URL": f"smtp://{host.NODE_IP}:{smtp.port}",
                "JOBQ_SMTP_FROM": "jobq@e2e.invalid",
                "JOBQ_WEBHOOK_ALLOW_PRIVATE": "true",  # the sink is on the node's private address
                "JOBQ_DEMO_HANDLERS": "true",  # jobq.sleep, for a job to be mid-run
            },
        },
    }
    values_file = node_cluster.cluster.root / f"{namespace}-values.json"
    values_file.write_text(json.dumps(values))
    try:
        helm(
            node_cluster,
            "install",
            RELEASE,
            CHART,
            "-n",
            namespace,
            "-f",
            str(values_file),
            "--wait",
            "--timeout",
            "6m",
        )
        service = json.loads(node_cluster.kubectl("get", "service", f"{FULLNAME}-api", "-n", namespace, "-o", "json"))
        api_url = f"http://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}"
        key = node_cluster.kubectl(
            *("exec", "-n", namespace, f"deploy/{FULLNAME}-api", "--"),
            *("python", "-m", "jobq_core.cli", "create-key", "--name", "e2e"),
            *("--scope", "jobs:read", "--scope", "jobs:write"),
        ).strip()
        yield Release(
            node_cluster,
            namespace,
            api_url,
            {"Authorization": f"Bearer {key}"},
            mail,
            hooks,
            f"http://{host.NODE_IP}:{hooks.server_port}/hook",
        )
    finally:
        hooks.shutdown()
        hooks.server_close()
        smtp.stop()
        node_cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def test_helm_install_with_defaults_makes_every_pod_ready_without_a_restart_and_helm_test_passes(
    release: Release,
) -> None:
    pods = release.kubectl_json("get", "pods")["items"]
    components = {p["metadata"]["labels"].get("app.kubernetes.io/component") for p in pods}
    assert {"api", "worker", "operator", "postgresql", "redis"} <= components
    assert [p["metadata"]["name"] for p in pods if not ready(p) and p["status"].get("phase") != "Succeeded"] == []
    # The api and the workers start before the post-install migration and wait for the
    # schema: none of them crash-looped meanwhile.
    assert {p["metadata"]["name"]: restarts(p) for p in pods if restarts(p)} == {}
    assert len(release.pods("api")) == 2

    output = release.helm("test", RELEASE, "--logs", "--timeout", "4m")
    assert "succeeded" in output, output


def test_a_job_through_the_api_service_runs_on_a_worker_pod_and_mail_and_webhooks_reach_their_sinks(
    release: Release,
) -> None:
    worker_pods = {p["metadata"]["name"] for p in release.pods("worker")}
    with httpx.Client(timeout=10) as client:
        mail = release.submit(
            client,
            {"type": "email.send", "payload": {"to": ["ops@e2e.invalid"], "subject": "from a pod", "text": "hello"}},
        )
        hook = release.submit(
            client, {"type": "webhook.post", "payload": {"url": release.hook_url, "body": {"hello": "pod"}}}
        )
        for job in (mail, hook):
            done = release.wait_for_status(client, job["id"], {"succeeded", "dead"})
            assert done["status"] == "succeeded", done
            assert any(done["worker_id"].startswith(f"{pod}-") for pod in worker_pods), done["worker_id"]

    assert [m["Subject"] for m in release.mail.delivered] == ["from a pod"]
    ((path, headers, body),) = release.hooks.received
    assert (path, json.loads(body)) == ("/hook", {"hello": "pod"})
    assert headers["X-Jobq-Job-Id"] == hook["id"]


def test_a_worker_pod_deleted_without_grace_mid_job_has_its_job_run_again_on_another_pod(release: Release) -> None:
    with httpx.Client(timeout=10) as client:
        job = release.submit(client, {"type": "jobq.sleep", "payload": {"seconds": 4}})
        running = release.wait_for_status(client, job["id"], {"running"})
        victim = next(
            p["metadata"]["name"]
            for p in release.pods("worker")
            if running["worker_id"].startswith(p["metadata"]["name"])
        )
        deleted_at = time.monotonic()
        release.node.kubectl("delete", "pod", victim, "-n", release.namespace, "--grace-period=0", "--force")

        done = release.wait_for_status(client, job["id"], {"succeeded", "dead"}, timeout_s=WORKER_TIMEOUT_S + 60)
        took_s = time.monotonic() - deleted_at

    assert [a["outcome"] for a in done["history"]] == ["lost", "succeeded"], done["history"]
    assert not done["worker_id"].startswith(victim)
    # Judged gone after the heartbeat timeout (after a new leader watched a full timeout
    # if the victim led), then run again: 4 s of sleep plus a few seconds of slack.
    assert took_s < 2 * WORKER_TIMEOUT_S + 4 + 10, f"ran again {took_s:.1f}s after the pod was deleted"
