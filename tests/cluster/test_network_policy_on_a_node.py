"""The chart's NetworkPolicies as behaviour, on a node that enforces them (kube-router):
the api answers its `apiFrom` namespace and the `metricsFrom` scraper and no other pod,
`helm test`'s pod is let in, the workers and the operator take connections from the
scraper on their metrics port only, and the bundled PostgreSQL and Redis answer this
release's jobq pods only, whose jobs still run.

One release for the module, with client pods in three namespaces of their own and in the
release's. Connections are real TCP connections opened by python in pods of the api image.
Each test pairs what the policies let through with what they refuse, so none passes on a
node that ignores NetworkPolicy (`Cluster.start(network_policy=False)`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cluster.conftest import NodeCluster
from tests.cluster.stack import Stack, helm

pytestmark = pytest.mark.timeout(900)

CHART = str(Path(__file__).resolve().parents[2] / "charts" / "jobq")
RELEASE = "np"
FULLNAME = f"{RELEASE}-jobq"
# The label the test's client namespaces carry, and the values naming them as peers.
ROLE = "jobq.invalid/role"
SCRAPER_LABELS = {"app.kubernetes.io/name": "prometheus"}
API_PORT = 80  # the api Service's port (api.service.port)
POSTGRESQL_PORT = 5432
REDIS_PORT = 6379
WORKER_METRICS_PORT = 8081  # worker.metricsPort
OPERATOR_METRICS_PORT = 8082  # operator.metricsPort
CONNECT_TIMEOUT_S = 3
# How long a new pod may wait for kube-router to add it to a policy's address sets.
PROGRAMMED_WITHIN_S = 30

# Run in a pod by `python -c`: one TCP connection (or an HTTP GET when a path is given) to
# HOST PORT, and its outcome as one JSON line: open, refused, timeout or error.
PROBE = f"""
import json, socket, sys, urllib.error, urllib.request
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else ""
def outcome(exc):
    exc = getattr(exc, "reason", exc)
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    return "timeout" if isinstance(exc, TimeoutError) else "error"
try:
    if path:
        with urllib.request.urlopen(f"http://{{host}}:{{port}}{{path}}", timeout={CONNECT_TIMEOUT_S}) as answer:
            result = {{"outcome": "open", "status": answer.status, "body": answer.read(4000).decode()}}
    else:
        socket.create_connection((host, port), timeout={CONNECT_TIMEOUT_S}).close()
        result = {{"outcome": "open"}}
except urllib.error.HTTPError as exc:
    result = {{"outcome": "open", "status": exc.code, "body": ""}}
except OSError as exc:
    result = {{"outcome": outcome(exc), "detail": repr(exc)}}
print(json.dumps(result))
"""


@dataclass
class Prober:
    """A pod of the api image that opens connections on request."""

    node: NodeCluster
    namespace: str
    name: str

    def connect(self, host: str, port: int, path: str = "") -> dict[str, Any]:
        """Open a connection from the pod; its outcome (`outcome`, and `status`, `body` for a GET)."""
        args = ("exec", "-n", self.namespace, self.name, "--", "python", "-c", PROBE, host, str(port))
        output = self.node.kubectl(*args, *((path,) if path else ()), timeout_s=30)
        result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
        return result

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class Setup:
    """The release and the client pods around it."""

    release: Stack
    client: Prober  # in the namespace `apiFrom` names
    scraper: Prober  # in the namespace `metricsFrom` names, with the pod labels it names
    scraper_neighbour: Prober  # same namespace, without those labels
    elsewhere: Prober  # in a namespace no policy names
    beside: Prober  # in the release's namespace, not a jobq pod
    impostor: Prober  # in the release's namespace, labelled as another release's worker

    def address(self, component: str) -> str:
        """The DNS name of the release's Service of `component`."""
        return f"{FULLNAME}-{component}.{self.release.namespace}.svc.cluster.local"


def prober_pod(name: str, image: str, labels: dict[str, str] | None = None) -> dict[str, object]:
    """A pod of the api image that only waits, for `kubectl exec` to run the probe in."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "np-prober", **(labels or {})}},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": ["python", "-c", "import time; time.sleep(3600)"],
                }
            ],
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 1,
        },
    }


@pytest.fixture(scope="module")
def setup(node_cluster: NodeCluster, images: dict[str, str]) -> Iterator[Setup]:
    """The chart with `networkPolicy.enabled`, `apiFrom` one labelled namespace and
    `metricsFrom` the scraper pods of another; the client pods, Running."""
    suffix = uuid.uuid4().hex[:8]
    namespaces = {role: f"jobq-np-{role}-{suffix}" for role in ("release", "client", "metrics", "elsewhere")}
    for role, name in namespaces.items():
        node_cluster.kubectl("create", "namespace", name)
        node_cluster.kubectl("label", "namespace", name, f"{ROLE}={role}")
    api_image = images["localhost/jobq-api:dev"]
    worker_of_another_release = {
        "app.kubernetes.io/name": "jobq",
        "app.kubernetes.io/instance": "another",
        "app.kubernetes.io/component": "worker",
    }
    # Setup's field → (namespace role, pod name, pod labels).
    pods = {
        "client": ("client", "client", {}),
        "scraper": ("metrics", "scraper", SCRAPER_LABELS),
        "scraper_neighbour": ("metrics", "neighbour", {}),
        "elsewhere": ("elsewhere", "elsewhere", {}),
        "beside": ("release", "beside", {}),
        "impostor": ("release", "impostor", worker_of_another_release),
    }
    for role, name, labels in pods.values():
        node_cluster.apply(namespaces[role], prober_pod(name, api_image, labels))

    values = {
        "image": {"registry": "localhost", "tag": "dev"},
        "postgresql": {"image": {"repository": "jobq-postgresql", "tag": "15"}},
        "redis": {"image": {"repository": "jobq-redis", "tag": "7.0"}},
        "passwordSeed": "np-" + uuid.uuid4().hex,
        "api": {"replicaCount": 1},
        "networkPolicy": {
            "enabled": True,
            "apiFrom": [{"namespaceSelector": {"matchLabels": {ROLE: "client"}}}],
            "metricsFrom": [
                {
                    "namespaceSelector": {"matchLabels": {ROLE: "metrics"}},
                    "podSelector": {"matchLabels": SCRAPER_LABELS},
                }
            ],
        },
    }
    values_file = node_cluster.cluster.root / f"np-{suffix}-values.json"
    values_file.write_text(json.dumps(values))
    release_namespace = namespaces["release"]
    try:
        install = helm(
            node_cluster,
            *("install", RELEASE, CHART, "-n", release_namespace, "-f", str(values_file)),
            *("--wait", "--timeout", "6m"),
            check=False,
        )
        if install.returncode != 0:
            pods_now = node_cluster.kubectl("get", "pods", "-n", release_namespace, "-o", "wide")
            pytest.fail(f"helm install failed:\n{install.stdout}{install.stderr}\n{pods_now}")
        probers = {key: Prober(node_cluster, namespaces[role], name) for key, (role, name, _) in pods.items()}
        for prober in probers.values():
            node_cluster.wait_phase(prober.namespace, prober.name, "Running", timeout_s=120)
        yield Setup(Stack(node_cluster, release_namespace, RELEASE, FULLNAME), **probers)
    finally:
        for name in namespaces.values():
            node_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def eventually(what: str, probe: Callable[[], dict[str, Any]], holds: Callable[[dict[str, Any]], bool]) -> None:
    """Probe until `holds` is true of the outcome, for at most PROGRAMMED_WITHIN_S (kube-router
    programs a new pod's chain and the policies' address sets a moment after the pod starts)."""
    deadline = time.monotonic() + PROGRAMMED_WITHIN_S
    while True:
        result = probe()
        if holds(result):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: still {result} after {PROGRAMMED_WITHIN_S}s")
        time.sleep(0.5)


def is_open(result: dict[str, Any]) -> bool:
    """The connection was made (for a GET: and answered 200)."""
    return bool(result["outcome"] == "open" and result.get("status", 200) == 200)


def is_closed(result: dict[str, Any]) -> bool:
    """The connection was refused or timed out: the pod cannot reach the port."""
    return result["outcome"] in ("refused", "timeout")


def assert_refused(prober: Prober, host: str, port: int) -> None:
    """`prober` cannot reach host:port (polled: a refusal may need the target's chain programmed),
    twice in a row: one probe timing out on a busy node proves nothing by itself."""
    eventually(f"{prober} kept from {host}:{port}", lambda: prober.connect(host, port), is_closed)
    again = prober.connect(host, port)
    assert is_closed(again), f"{prober} reached {host}:{port} right after being kept out: {again}"


def test_the_api_answers_its_apifrom_namespace_and_no_pod_of_any_other(setup: Setup) -> None:
    api = setup.address("api")
    eventually(f"{setup.client} let into the api", lambda: setup.client.connect(api, API_PORT, "/healthz"), is_open)
    for prober in (setup.elsewhere, setup.beside, setup.scraper_neighbour, setup.impostor):
        assert_refused(prober, api, API_PORT)


def test_the_metricsfrom_scraper_reads_the_apis_metrics_where_its_unlabelled_neighbour_cannot(
    setup: Setup,
) -> None:
    api = setup.address("api")
    eventually(f"{setup.scraper} let in", lambda: setup.scraper.connect(api, API_PORT, "/metrics"), is_open)
    scraped = setup.scraper.connect(api, API_PORT, "/metrics")
    assert is_open(scraped), scraped
    assert "# TYPE" in scraped["body"], scraped["body"][:500]
    # Same namespace, without the pod labels `metricsFrom` names: kept out.
    assert_refused(setup.scraper_neighbour, api, API_PORT)


def test_helm_test_passes_with_its_pod_let_in_where_a_plain_pod_beside_it_is_refused(setup: Setup) -> None:
    release = setup.release
    assert_refused(setup.beside, setup.address("api"), API_PORT)
    tested = helm(release.node, "test", RELEASE, "-n", release.namespace, "--logs", "--timeout", "4m")
    assert "succeeded" in tested.stdout, tested.stdout


def test_the_bundled_postgresql_and_redis_answer_only_this_releases_jobq_pods_whose_jobs_still_run(
    setup: Setup,
) -> None:
    for component, port in (("postgresql", POSTGRESQL_PORT), ("redis", REDIS_PORT)):
        for prober in (setup.beside, setup.impostor, setup.elsewhere, setup.client):
            assert_refused(prober, setup.address(component), port)

    # The api (INSERT, enqueue) and a worker (dequeue, claim, finish) still reach both.
    release = setup.release
    release.connect()
    workers = {p["metadata"]["name"] for p in release.pods("worker")}
    with httpx.Client(timeout=10) as client:
        job = release.submit(client, {"type": "jobq.noop", "payload": {}})
        done = release.wait_for_status(client, job["id"], {"succeeded", "dead"}, timeout_s=60)
    assert done["status"] == "succeeded", done
    assert any(done["worker_id"].startswith(f"{pod}-") for pod in workers), (done["worker_id"], workers)


def test_the_workers_and_the_operator_take_connections_only_from_the_scraper_on_their_metrics_port(
    setup: Setup,
) -> None:
    release = setup.release
    for component, port in (("worker", WORKER_METRICS_PORT), ("operator", OPERATOR_METRICS_PORT)):
        pod_ip = release.pods(component)[0]["status"]["podIP"]
        eventually(
            f"{setup.scraper} let into the {component}'s metrics",
            partial(setup.scraper.connect, pod_ip, port, "/metrics"),
            is_open,
        )
        for prober in (setup.scraper_neighbour, setup.beside, setup.client):
            assert_refused(prober, pod_ip, port)
