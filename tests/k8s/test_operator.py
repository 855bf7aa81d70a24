"""The operator (`python -m jobq_operator`) against a real API server, PostgreSQL and Redis.

It runs as a subprocess under the chart's operator ServiceAccount and Role (rendered
from charts/jobq/templates/operator-rbac.yaml), with a token the API server issued for
that account. No node runs, so the worker Deployment's pods stay Pending; the workers'
heartbeats are real rows in jobq_workers whose host names are those pods' names, as a
worker running in each pod would register.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import socket
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from jobq_devrun.servers import LocalServer, free_port, start_redis

from jobq_core.dispatch.channel import DispatchChannel
from jobq_core.flows.submit import submit
from jobq_core.model.states import JobStatus
from jobq_core.model.stats import MINUTE
from jobq_core.pg import scalers, store
from tests.conftest import Servers
from tests.k8s.kube import Kube
from tests.k8s.test_operator_crd import install_crd
from tests.support.processes import Service, start
from tests.support.wait import until

ROOT = Path(__file__).resolve().parents[2]
CHART = str(ROOT / "charts" / "jobq")
RELEASE = "demo"
ACCOUNT = f"{RELEASE}-jobq-operator"
SECRET = f"{RELEASE}-jobq"  # the one Secret the chart's Role lets the operator read
WORKERS = f"{RELEASE}-jobq-worker"  # the one Deployment the chart's Role lets the operator scale
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
T = TypeVar("T")
# Starting a control plane, the servers and the operator process takes most of a minute
# on a busy machine; each test's own waits are bounded below.
pytestmark = pytest.mark.timeout(300)


def apply_json(kube: Kube, namespace: str, *objects: dict[str, Any]) -> None:
    """`kubectl apply` objects given as dicts."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="jobq-op-") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": list(objects)}, f)
        f.flush()
        kube.kubectl("apply", "-n", namespace, "-f", f.name)


def install_rbac(kube: Kube, namespace: str) -> None:
    """The chart's operator ServiceAccount, Role and RoleBinding, nothing else of the chart."""
    rendered = kube.helm(
        "template", RELEASE, CHART, "-n", namespace, "--show-only", "templates/operator-rbac.yaml",
        "--set", "operator.enabled=true",
    ).stdout  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="jobq-op-rbac-") as f:
        f.write(rendered)
        f.flush()
        kube.kubectl("apply", "-n", namespace, "-f", f.name)


def operator_kubeconfig(kube: Kube, namespace: str, folder: Path) -> Path:
    """A kubeconfig that authenticates as the operator's ServiceAccount (a bound token)."""
    token = kube.kubectl("create", "token", ACCOUNT, "-n", namespace, "--duration=1h").stdout.strip()
    assert kube.cluster.ca is not None
    ca = base64.b64encode(Path(kube.cluster.ca.cert).read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": {"server": kube.cluster.server, "certificate-authority-data": ca}}],
        "users": [{"name": ACCOUNT, "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "test", "user": ACCOUNT, "namespace": namespace}}],
        "current-context": "operator",
    }
    path = folder / "operator.kubeconfig"
    path.write_text(json.dumps(config))
    return path


def worker_deployment(replicas: int) -> dict[str, Any]:
    """A worker Deployment whose pods never start (no node, no image)."""
    labels = {"app": WORKERS}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": WORKERS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "worker", "image": "registry.invalid/jobq/worker:none"}]},
            },
        },
    }


def connection_secret(database_url: str, redis_url: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET},
        "stringData": {"databaseUrl": database_url, "redisUrl": redis_url},
    }


def worker_scaler(**spec: Any) -> dict[str, Any]:
    base = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": WORKERS},
        "queues": ["default"],
        "minReplicas": 0,
        "maxReplicas": 20,
        "jobsPerWorker": 50,
        "targetLatencySeconds": 30,
        "pollIntervalSeconds": 1,
        "scaleUp": {"stabilizationWindowSeconds": 0, "maxStep": 20, "periodSeconds": 1},
        "scaleDown": {"stabilizationWindowSeconds": 3, "maxStep": 20, "periodSeconds": 1},
        "cooldownSeconds": 2,
        "connection": {"secretName": SECRET},
    }
    return {
        "apiVersion": "autoscaling.jobq.dev/v1alpha1",
        "kind": "WorkerScaler",
        "metadata": {"name": WORKERS},
        "spec": {**base, **spec},
    }


@dataclass
class Operator:
    """The operator subprocess and where its metrics are."""

    service: Service
    metrics_url: str

    def metric(self, name: str, **labels: str) -> float | None:
        """The value of one sample on /metrics, or None when it is not there."""
        with urllib.request.urlopen(self.metrics_url, timeout=5) as answer:  # noqa: S310 (our own loopback URL)
            text = answer.read().decode()
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            match = re.fullmatch(rf"{re.escape(name)}\{{(.*)\}} (\S+)", line)
            if match and ",".join(sorted(match.group(1).split(","))) == wanted:
                return float(match.group(2))
        return None


@pytest.fixture
def operator(kube: Kube, namespace: str, tmp_path: Path) -> Iterator[Operator]:
    """The operator running under the chart's RBAC in `namespace`, stopped (SIGTERM) afterwards."""
    install_crd(kube)
    install_rbac(kube, namespace)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBQ_")}
    env.update(
        KUBECONFIG=str(operator_kubeconfig(kube, namespace, tmp_path)),
        JOBQ_OPERATOR_NAMESPACE=namespace,
        JOBQ_OPERATOR_METRICS_HOST="127.0.0.1",
        JOBQ_OPERATOR_METRICS_PORT=str(port),
        JOBQ_OPERATOR_RATE_WINDOW_S="2",
        JOBQ_LOG_LEVEL="INFO",
    )
    service = start("jobq_operator", env, tmp_path / "operator.log")
    try:
        health = f"http://127.0.0.1:{port}/healthz"
        deadline = time.monotonic() + 90
        while not _answers(health):
            assert service.process.poll() is None, f"the operator exited:\n{service.log()}"
            assert time.monotonic() < deadline, f"the operator did not serve {health}:\n{service.log()}"
            time.sleep(0.2)
        yield Operator(service, f"http://127.0.0.1:{port}/metrics")
    finally:
        code = service.stop()
        print(service.log())  # shown when the test fails
        assert code == 0, f"the operator exited {code}:\n{service.log()}"
        # Every call it made was one the chart's Role allows (a refused one is logged, not raised).
        assert "forbidden" not in service.log().lower(), "the operator made a call its Role does not allow"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (our own loopback URL)
            return bool(answer.status == 200)
    except OSError:
        return False


def scaler_status(kube: Kube, namespace: str) -> dict[str, Any]:
    return dict(kube.get("workerscaler", WORKERS, "-n", namespace).get("status") or {})


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c["type"] == kind), {})


def replicas(kube: Kube, namespace: str) -> int:
    return int(kube.get("deployment", WORKERS, "-n", namespace)["spec"]["replicas"])


def events(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    found = kube.get("events", "-n", namespace, "--field-selector", f"involvedObject.name={WORKERS}")["items"]
    return [e for e in found if e["involvedObject"]["kind"] == "WorkerScaler"]


def pods(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    found = kube.get("pods", "-n", namespace, "-l", f"app={WORKERS}")["items"]
    return [p for p in found if "deletionTimestamp" not in p["metadata"]]


async def submit_jobs(servers: Servers, db: asyncpg.Pool, count: int) -> None:
    """`count` jobs on the default queue, committed and dispatched as the API would."""
    now = datetime.now(UTC)
    jobs = [
        store.NewJob(
            id=uuid.uuid4(),
            type="jobq.sleep",
            queue="default",
            status=JobStatus.QUEUED,
            payload={"seconds": 1},
            priority=0,
            max_attempts=3,
            timeout_s=60,
            idempotency_key=None,
            tags=[],
            run_at=now,
        )
        for _ in range(count)
    ]
    queue = DispatchChannel.from_url(servers.redis_url)
    try:
        result = await submit(db, queue, jobs)
    finally:
        await queue.close()
    assert result.dispatched


async def register_worker(db: asyncpg.Pool, hostname: str) -> str:
    """A live worker row for a worker running in the pod `hostname`."""
    worker_id = f"{hostname}-1-{uuid.uuid4().hex[:6]}"
    await db.execute(
        "INSERT INTO jobq_workers (id, hostname, pid, queues, job_types, concurrency, version)"
        " VALUES ($1, $2, 1, '{default}', '{jobq.sleep}', 50, 'test')",
        worker_id,
        hostname,
    )
    return worker_id


async def recorded(db: asyncpg.Pool, namespace: str) -> scalers.ScalerHistory | None:
    """What the operator recorded in PostgreSQL for the test's WorkerScaler (what GET /v1/scalers reads)."""
    now = await scalers.clock(db)
    found = await scalers.history(db, now - timedelta(hours=1), now + MINUTE, MINUTE)
    return next((s for s in found if (s.namespace, s.name) == (namespace, WORKERS)), None)


async def recorded_change(db: asyncpg.Pool, namespace: str, to: int | None = None) -> scalers.ScalerHistory | None:
    """The record once its latest change of replicas is there (and is to `to`, when given)."""
    found = await recorded(db, namespace)
    changes = [d for d in (found.decisions if found else []) if d.from_replicas != d.to_replicas]
    return found if changes and (to is None or changes[0].to_replicas == to) else None


async def test_a_burst_scales_the_workers_up_then_down_removing_idle_pods_first(
    kube: Kube, namespace: str, servers: Servers, db: asyncpg.Pool, operator: Operator
) -> None:
    apply_json(
        kube, namespace, worker_deployment(0), connection_secret(servers.database_url, servers.redis_url),
        worker_scaler(),
    )  # fmt: skip
    await eventually(
        lambda: condition(scaler_status(kube, namespace), "Ready").get("status") == "True",
        what="the operator to observe the empty queue",
    )
    assert replicas(kube, namespace) == 0

    # 500 jobs and no worker: 500 / 50 jobs per worker = 10 replicas, from zero at once.
    await submit_jobs(servers, db, 500)
    await eventually(lambda: replicas(kube, namespace) == 10, timeout_s=20, what="10 replicas")
    status = scaler_status(kube, namespace)
    assert (status["desiredReplicas"], status["ready"], status["running"]) == (10, 500, 0)
    assert status["lastScaleReason"] == "scale-from-zero"
    scaled_up = [e for e in events(kube, namespace) if e["reason"] == "ScaledUp"]
    assert [e["type"] for e in scaled_up] == ["Normal"]
    assert scaled_up[0]["message"].startswith("0 -> 10 replicas (scale-from-zero): 500 ready + 0 running")
    assert operator.metric("jobq_operator_ready_jobs", namespace=namespace, workerscaler=WORKERS) == 500
    assert operator.metric("jobq_operator_desired_replicas", namespace=namespace, workerscaler=WORKERS) == 10
    assert (operator.metric("jobq_operator_decisions_total", namespace=namespace, workerscaler=WORKERS,
                            reason="scale-from-zero") or 0) >= 1  # fmt: skip

    # The dashboard's record in PostgreSQL: the scale-up as a decision, the loops as samples.
    history = await until(lambda: recorded_change(db, namespace), what="the scale-up recorded in PostgreSQL")
    first = history.decisions[-1]
    assert (first.from_replicas, first.to_replicas, first.reason) == (0, 10, "scale-from-zero")
    assert first.message.startswith("500 ready + 0 running")
    assert max(s.desired_replicas for s in history.samples) == 10
    assert max(s.ready for s in history.samples) == 500

    # A worker registers in every pod; three of them are still running a job each when
    # the rest of the queue is done.
    names = await eventually(lambda: sorted(p["metadata"]["name"] for p in pods(kube, namespace)), what="the pods")
    assert len(names) == 10
    workers = {name: await register_worker(db, name) for name in names}
    busy = names[:3]
    jobs = [r["id"] for r in await db.fetch("SELECT id FROM jobq_jobs ORDER BY id")]
    for job_id, pod in zip(jobs, busy, strict=False):
        await db.execute(
            "UPDATE jobq_jobs SET status = 'running', attempts = 1, worker_id = $2, started_at = now() WHERE id = $1",
            job_id,
            workers[pod],
        )
    await db.execute(
        "UPDATE jobq_jobs SET status = 'succeeded', attempts = 1, started_at = now() - interval '1 second',"
        " finished_at = now() WHERE status = 'queued'"
    )

    # 3 running jobs need one worker: after the 3 s window the operator lowers the
    # replicas to 1, marking the idle pods cheaper to delete than the busy ones first.
    await eventually(lambda: replicas(kube, namespace) == 1, timeout_s=30, what="1 replica")
    left = await eventually(
        lambda: [p for p in [pods(kube, namespace)] if len(p) == 1] or None, what="the ReplicaSet to remove 9 pods"
    )
    survivor = left[0][0]["metadata"]
    assert survivor["name"] in busy
    assert survivor["annotations"][DELETION_COST] == "1"
    # (The 500 jobs that arrived within the 2 s rate window may first look like a steady
    # stream needing some workers: the way down can take a step through the drain forecast.)
    scaled_down = sorted(
        (e for e in events(kube, namespace) if e["reason"] == "ScaledDown"), key=lambda e: e["firstTimestamp"]
    )
    assert scaled_down[0]["message"].startswith("10 -> ")
    assert re.match(r"\d+ -> 1 replicas", scaled_down[-1]["message"])
    assert scaler_status(kube, namespace)["lastScaleReason"] in {"depth", "drain-forecast", "stabilized"}

    # The last jobs finish: after the 2 s cooldown of an empty queue, zero workers.
    await db.execute(
        "UPDATE jobq_jobs SET status = 'succeeded', finished_at = now() WHERE status = 'running'",
    )
    await eventually(lambda: replicas(kube, namespace) == 0, timeout_s=30, what="0 replicas")
    assert scaler_status(kube, namespace)["lastScaleReason"] == "idle"
    # Every change is a decision row, in a chain from 0 back to 0 (holds in between keep the count).
    history = await until(lambda: recorded_change(db, namespace, to=0), what="the scale to zero recorded")
    changes = [d for d in reversed(history.decisions) if d.from_replicas != d.to_replicas]
    assert changes[0].from_replicas == 0 and changes[-1].to_replicas == 0
    assert all(a.to_replicas == b.from_replicas for a, b in itertools.pairwise(changes))
    assert changes[-1].reason == "idle"
    assert (history.current_replicas, history.desired_replicas) in {(0, 0), (1, 0)}

    # The operator wrote only the status: no finalizer holds the object, it deletes at once.
    assert "finalizers" not in kube.get("workerscaler", WORKERS, "-n", namespace)["metadata"]
    kube.kubectl("delete", "workerscaler", WORKERS, "-n", namespace, "--timeout=10s")
    await eventually(lambda: "scaling loop stopped" in operator.service.log(), what="the loop to stop")
    # Its records stay (until retention): the dashboard shows it by its last_seen_at.
    assert await recorded(db, namespace) is not None


async def test_an_outage_sets_the_condition_and_leaves_the_replicas_alone(
    kube: Kube, namespace: str, servers: Servers, db: asyncpg.Pool, operator: Operator, tmp_path: Path
) -> None:
    redis: LocalServer = start_redis(tmp_path / "redis", durable=False)
    try:
        # The target Deployment does not exist yet: a condition and a Warning, no crash.
        apply_json(
            kube, namespace, connection_secret(servers.database_url, redis.url),
            worker_scaler(scaleDown={"stabilizationWindowSeconds": 600, "maxStep": 1, "periodSeconds": 60},
                          cooldownSeconds=600),
        )  # fmt: skip
        await eventually(
            lambda: condition(scaler_status(kube, namespace), "Ready").get("reason") == "TargetNotFound",
            what="the TargetNotFound condition",
        )
        assert [e["type"] for e in events(kube, namespace) if e["reason"] == "TargetNotFound"] == ["Warning"]

        # Three workers, an empty queue and a long scale-down window: the operator holds at 3.
        apply_json(kube, namespace, worker_deployment(3))
        await eventually(
            lambda: condition(scaler_status(kube, namespace), "Ready").get("status") == "True",
            what="the operator to observe the queue",
        )

        # Redis goes away; 500 jobs wait in PostgreSQL. Workers could not receive them, so
        # the operator reports the outage instead of scaling.
        redis.stop()
        await submit_jobs_to_postgres(db, 500)
        ready = await eventually(
            lambda: [
                c for c in [condition(scaler_status(kube, namespace), "Ready")] if c.get("reason") == "RedisUnavailable"
            ],
            what="the RedisUnavailable condition",
        )
        ready = ready[0]
        assert ready["status"] == "False"
        assert "replicas left unchanged" in ready["message"]
        warnings = [e for e in events(kube, namespace) if e["reason"] == "RedisUnavailable"]
        assert [e["type"] for e in warnings] == ["Warning"]

        def errors() -> float:
            value = operator.metric(
                "jobq_operator_errors_total", namespace=namespace, workerscaler=WORKERS, reason="RedisUnavailable"
            )
            return value or 0.0

        await eventually(lambda: errors() >= 3, timeout_s=30, what="three failed loops")
        assert replicas(kube, namespace) == 3

        # PostgreSQL unreachable (the Secret now names a port nothing listens on): the same.
        dead = f"postgresql://jobq@127.0.0.1:{_closed_port()}/jobq"
        apply_json(kube, namespace, connection_secret(dead, servers.redis_url))
        await eventually(
            lambda: condition(scaler_status(kube, namespace), "Ready").get("reason") == "DatabaseUnavailable",
            what="the DatabaseUnavailable condition",
        )
        assert replicas(kube, namespace) == 3
        assert [e["type"] for e in events(kube, namespace) if e["reason"] == "DatabaseUnavailable"] == ["Warning"]

        # Both back: 500 ready jobs at 50 per worker, 10 replicas.
        apply_json(kube, namespace, connection_secret(servers.database_url, servers.redis_url))
        await eventually(lambda: replicas(kube, namespace) == 10, timeout_s=30, what="10 replicas")
        assert condition(scaler_status(kube, namespace), "Ready")["status"] == "True"
    finally:
        redis.stop()


async def submit_jobs_to_postgres(db: asyncpg.Pool, count: int) -> None:
    """`count` committed queued jobs, not dispatched (Redis is down)."""
    await db.execute(
        "INSERT INTO jobq_jobs (id, type, queue, status, payload, max_attempts, timeout_s, run_at)"
        " SELECT gen_random_uuid(), 'jobq.sleep', 'default', 'queued', '{}', 3, 60, now()"
        " FROM generate_series(1, $1)",
        count,
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def eventually(probe: Callable[[], T], *, what: str, timeout_s: float = 30) -> T:
    """Call the synchronous `probe` (kubectl) until it returns something truthy."""

    async def wrapped() -> T:
        return probe()

    return await until(wrapped, timeout_s=timeout_s, every_s=0.3, what=what)


async def test_a_paused_scaler_reports_but_leaves_the_replicas_until_resumed(
    kube: Kube, namespace: str, servers: Servers, db: asyncpg.Pool, operator: Operator
) -> None:
    await submit_jobs(servers, db, 500)
    apply_json(
        kube, namespace, worker_deployment(2), connection_secret(servers.database_url, servers.redis_url),
        worker_scaler(paused=True),
    )  # fmt: skip
    active = await eventually(
        lambda: [
            c for c in [condition(scaler_status(kube, namespace), "ScalingActive")] if c.get("reason") == "Paused"
        ],
        what="the Paused condition",
    )
    assert active[0]["status"] == "False"
    status = scaler_status(kube, namespace)
    assert (status["ready"], status["desiredReplicas"], status["replicas"]) == (500, 10, 2)
    assert replicas(kube, namespace) == 2
    # Paused, it still records what it sees and wants, and no decision.
    paused = await recorded(db, namespace)
    assert paused is not None
    assert (paused.current_replicas, paused.desired_replicas, paused.decisions) == (2, 10, [])

    # The spec change reaches the running loop: resumed, it scales.
    kube.kubectl("patch", "ws", WORKERS, "-n", namespace, "--type=merge", "-p", '{"spec": {"paused": false}}')
    await eventually(lambda: replicas(kube, namespace) == 10, what="10 replicas once resumed")
    assert condition(scaler_status(kube, namespace), "ScalingActive")["status"] == "True"
    resumed = await until(lambda: recorded_change(db, namespace), what="the resumed scale-up recorded")
    assert [(d.from_replicas, d.to_replicas) for d in resumed.decisions if d.from_replicas != d.to_replicas] == [
        (2, 10)
    ]
