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
from tests.cluster.stack import Stack, ready, restarts
from tools.kube import host

pytestmark = pytest.mark.timeout(900)

CHART = str(Path(__file__).resolve().parents[2] / "charts" / "jobq")
RELEASE = "demo"
FULLNAME = f"{RELEASE}-jobq"
# A short heartbeat timeout, so a worker pod deleted mid-job is judged gone quickly.
WORKER_TIMEOUT_S = 10
MAX_WORKERS = 3


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
class Release(Stack):
    """The installed release, and the sinks its workers reach."""

    mail: MailSink = field(default_factory=MailSink)
    hooks: HookSink | None = None
    hook_url: str = ""

    def helm(self, *args: str) -> str:
        return helm(self.node, *args, "-n", self.namespace)


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
        # Two jobs per worker and a quick operator, so a burst of a dozen jobs scales the
        # workers from one to three within seconds and back down soon after.
        "worker": {"concurrency": 2},
        "operator": {
            "scaler": {
                **{"minReplicas": 1, "maxReplicas": MAX_WORKERS, "targetLatencySeconds": 2, "pollIntervalSeconds": 1},
                "scaleUp": {"stabilizationWindowSeconds": 0, "maxStep": 2, "periodSeconds": 2},
                "scaleDown": {"stabilizationWindowSeconds": 5, "maxStep": 1, "periodSeconds": 3},
            }
        },
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
        release = Release(node_cluster, namespace, RELEASE, FULLNAME, mail=mail, hooks=hooks)
        release.hook_url = f"http://{host.NODE_IP}:{hooks.server_port}/hook"
        release.connect()
        yield release
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
    # The api and the workers start beside the migration Job and wait for the
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
    assert release.hooks is not None
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


def test_the_operator_scales_workers_up_for_a_burst_whose_new_pods_take_jobs_and_back_down_after(
    release: Release,
) -> None:
    def replicas() -> int:
        return int(release.kubectl_json("get", "deployment", f"{FULLNAME}-worker")["spec"]["replicas"])

    release.node.wait_for("one worker before the burst", lambda: replicas() == 1, timeout_s=120)
    before = {p["metadata"]["name"] for p in release.pods("worker")}
    with httpx.Client(timeout=10) as client:
        # 12 jobs of 6 s on 2 slots: the oldest waits far past the 2 s target.
        burst = [release.submit(client, {"type": "jobq.sleep", "payload": {"seconds": 6}}) for _ in range(12)]
        release.node.wait_for("the operator to scale up", lambda: replicas() == MAX_WORKERS, timeout_s=60)
        done = [release.wait_for_status(client, job["id"], {"succeeded", "dead"}, timeout_s=120) for job in burst]

    assert {job["status"] for job in done} == {"succeeded"}
    assert {job["attempts"] for job in done} == {1}  # nothing ran twice
    ran_on = {job["worker_id"].rsplit("-", 2)[0] for job in done}
    new_pods = ran_on - before
    assert new_pods, f"no job ran on a pod the scale-up started: {ran_on} (before: {before})"
    release.node.wait_for("the operator to scale back down", lambda: replicas() == 1, timeout_s=120)
    scaler = release.kubectl_json("get", "workerscaler", f"{FULLNAME}-worker")
    assert scaler["status"]["desiredReplicas"] == 1
