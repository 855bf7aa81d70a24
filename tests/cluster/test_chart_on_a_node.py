"""The chart's pods on a real node: `helm install` with the images built here (tools/images),
jobs through the api Service run by worker pods, mail and webhooks reaching sinks on the
node's address, a worker pod deleted mid-job whose job runs again on another pod, the
operator scaling up for a burst and down removing idle pods first, and `helm upgrade`
rolling every pod under a steady load without losing a job.

The release is installed once for the module; its tests run in order against it.
"""

from __future__ import annotations

import copy
import json
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
from tests.cluster.stack import Stack, helm, ready, restarts
from tools.kube import host

pytestmark = pytest.mark.timeout(900)

CHART = str(Path(__file__).resolve().parents[2] / "charts" / "jobq")
RELEASE = "demo"
FULLNAME = f"{RELEASE}-jobq"
# A short heartbeat timeout, so a worker pod deleted mid-job is judged gone quickly.
WORKER_TIMEOUT_S = 10
MAX_WORKERS = 3
# A short drain, so a pod that must go with a long job hands it back within seconds.
DRAIN_S = 6


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
    values: dict[str, Any] = field(default_factory=dict)

    def helm(self, *args: str, timeout_s: float = 600) -> str:
        return helm(self.node, *args, "-n", self.namespace, timeout_s=timeout_s).stdout

    def all_pods(self) -> list[dict[str, Any]]:
        """Every pod of the release, terminating ones too."""
        return list(self.kubectl_json("get", "pods", "-l", f"app.kubernetes.io/instance={self.instance}")["items"])


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
    # Pod Security admission (built into the API server) refuses any pod of the release,
    # the bundled servers' and the helm test pod's included, that is not "restricted".
    node_cluster.kubectl(
        *("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted"),
        "pod-security.kubernetes.io/enforce-version=latest",
    )
    values = {
        # The images are in the node's containerd under localhost/, as buildah names them.
        "image": {"registry": "localhost", "tag": "dev"},
        "postgresql": {"image": {"repository": "jobq-postgresql", "tag": "15"}},
        "redis": {"image": {"repository": "jobq-redis", "tag": "7.0"}},
        "passwordSeed": "e2e-" + uuid.uuid4().hex,
        # Two jobs per worker and a quick operator, so a burst of a dozen jobs scales the
        # workers from one to three within seconds and back down soon after.
        "worker": {"concurrency": 2, "drainSeconds": DRAIN_S},
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
            # The migration Job too: the api may be ready (the schema is committed) a
            # moment before the Job's pod has exited and reads Succeeded.
            "--wait-for-jobs",
            "--timeout",
            "6m",
        )
        release = Release(node_cluster, namespace, RELEASE, FULLNAME, mail=mail, hooks=hooks, values=values)
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


def test_the_operator_scales_workers_up_for_a_burst_and_back_down_removing_the_idle_pods_first(
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
        # One long job, first in line (its priority), still running when the burst is
        # done: the scale-down must keep the pod running it and remove the idle ones.
        long = release.submit(client, {"type": "jobq.sleep", "payload": {"seconds": 40}, "priority": 50})
        running = release.wait_for_status(client, long["id"], {"running"}, timeout_s=60)
        busy_pod = running["worker_id"].rsplit("-", 2)[0]
        done = [release.wait_for_status(client, job["id"], {"succeeded", "dead"}, timeout_s=120) for job in burst]

        assert {job["status"] for job in done} == {"succeeded"}
        assert {job["attempts"] for job in done} == {1}  # nothing ran twice
        ran_on = {job["worker_id"].rsplit("-", 2)[0] for job in done}
        new_pods = ran_on - before
        assert new_pods, f"no job ran on a pod the scale-up started: {ran_on} (before: {before})"

        release.node.wait_for("the operator to scale back down", lambda: replicas() == 1, timeout_s=120)
        release.node.wait_for("the idle pods to go", lambda: len(release.pods("worker")) == 1, timeout_s=60)
        (survivor,) = [p["metadata"]["name"] for p in release.pods("worker")]
        assert release.wait_for_status(client, long["id"], {"running", "succeeded"})["status"] == "running", (
            "the long job must still be running when the scale-down is over, or this proves nothing"
        )
        assert survivor == busy_pod, f"the scale-down removed {busy_pod}, busy with a job, and kept {survivor}"
        finished = release.wait_for_status(client, long["id"], {"succeeded", "dead"}, timeout_s=60)

    assert (finished["status"], finished["attempts"]) == ("succeeded", 1), finished
    assert finished["worker_id"] == running["worker_id"], "it ran once, on the pod it started on"
    scaler = release.kubectl_json("get", "workerscaler", f"{FULLNAME}-worker")
    assert scaler["status"]["desiredReplicas"] == 1


@dataclass
class SteadyLoad:
    """Short jobs submitted through the api Service at a steady pace from a thread, with
    every answer (or failure to get one) recorded."""

    release: Release
    interval_s: float = 0.2
    accepted: list[str] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            for _ in range(2000):  # bounded: 400 s at the pace
                if self.stop.wait(self.interval_s):
                    return
                self._submit_and_read(client)

    def _submit_and_read(self, client: httpx.Client) -> None:
        job = {"type": "jobq.sleep", "payload": {"seconds": 0.3}}
        try:
            submitted = client.post(f"{self.release.api_url}/v1/jobs", json=job, headers=self.release.auth)
            self._record("POST /v1/jobs", submitted)
            if submitted.status_code == 201:
                self.accepted.append(submitted.json()["id"])
            if self.accepted:
                read = client.get(f"{self.release.api_url}/v1/jobs/{self.accepted[-1]}", headers=self.release.auth)
                self._record("GET /v1/jobs/{id}", read)
        except httpx.HTTPError as exc:
            self.failures.append(f"{type(exc).__name__}: {exc}")

    def _record(self, what: str, response: httpx.Response) -> None:
        self.answers.append(response.status_code)
        if not (200 <= response.status_code < 300 or response.status_code == 503):
            self.failures.append(f"{what}: {response.status_code} {response.text[:200]}")


def test_helm_upgrade_with_a_changed_config_under_a_steady_load_rolls_every_pod_and_loses_no_job(
    release: Release,
) -> None:
    rolled = ("api", "worker", "operator")
    old_pods = {p["metadata"]["name"] for p in release.all_pods() if component_of(p) in rolled}
    values = copy.deepcopy(release.values)
    values["config"]["logLevel"] = "DEBUG"  # a config change: the checksum annotations roll the pods
    values_file = release.node.cluster.root / f"{release.namespace}-upgrade-values.json"
    values_file.write_text(json.dumps(values))
    load = SteadyLoad(release)
    with httpx.Client(timeout=10) as client:
        # A job far longer than the drain, running on an old worker pod when it gets SIGTERM
        # (the roll reaches the old workers some 15 s in, once new ones are Ready).
        long = release.submit(client, {"type": "jobq.sleep", "payload": {"seconds": 40}, "priority": 50})
        started = release.wait_for_status(client, long["id"], {"running"})
        thread = threading.Thread(target=load.run, daemon=True)
        thread.start()
        try:
            release.helm("upgrade", RELEASE, CHART, "-f", str(values_file), "--wait", "--timeout", "5m")
            release.node.wait_for(
                "the old pods to be gone",
                lambda: not old_pods & {p["metadata"]["name"] for p in release.all_pods()},
                timeout_s=DRAIN_S + 15 + 60,
            )
            # And a few more submits, to the new pods alone.
            accepted_by_then = len(load.accepted)
            release.node.wait_for("submits to the new pods", lambda: len(load.accepted) >= accepted_by_then + 10)
        finally:
            load.stop.set()
            thread.join(timeout=30)

        assert load.failures == [], f"{len(load.failures)} failures among {len(load.answers)} answers"
        assert len(load.accepted) >= 50, f"only {len(load.accepted)} jobs accepted: the load was not steady"
        unavailable = load.answers.count(503)
        assert unavailable <= len(load.answers) // 10, f"{unavailable} of {len(load.answers)} answers were 503"
        done = [
            release.wait_for_status(client, job_id, {"succeeded", "dead"}, timeout_s=120) for job_id in load.accepted
        ]
        finished_long = release.wait_for_status(client, long["id"], {"succeeded", "dead"}, timeout_s=120)

    new_pods = {p["metadata"]["name"]: p for p in release.pods() if component_of(p) in rolled}
    assert set(map(component_of, new_pods.values())) == set(rolled)
    assert not old_pods & new_pods.keys(), "every api, worker and operator pod was replaced"
    odd = [j for j in done if (j["status"], j["attempts"]) != ("succeeded", 1)]
    assert odd == [], [{k: j[k] for k in ("id", "status", "attempts", "history", "worker_id", "error")} for j in odd]
    # Handed back at the drain's end, not lost: its attempt was not counted, and it ran
    # again on a new pod
    assert (finished_long["status"], finished_long["attempts"]) == ("succeeded", 1), finished_long
    assert [a["outcome"] for a in finished_long["history"]] == ["succeeded"], finished_long["history"]
    # (the operator may have removed that new pod since, once idle)
    assert finished_long["worker_id"].rsplit("-", 2)[0] not in old_pods, "it finished within the drain: no hand-back"
    assert started["worker_id"].rsplit("-", 2)[0] in old_pods


def component_of(pod: dict[str, Any]) -> str:
    return str(pod["metadata"]["labels"].get("app.kubernetes.io/component"))
