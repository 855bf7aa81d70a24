"""The Helm chart charts/jobq, installed into a real Kubernetes API server.

No node runs here, so Pods stay Pending and a hook Job never completes: installs and
upgrades run with `--no-hooks`, and the hook objects are checked on their own with a
server-side dry run.
"""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tests.k8s.kube import Kube, json_objects

CHART = str(Path(__file__).resolve().parents[2] / "charts" / "jobq")
RELEASE = "demo"
INSTANCE = f"app.kubernetes.io/instance={RELEASE}"
EXTERNAL_DB = "postgresql://jobq:s3cret@db.example.internal:5432/jobq"
EXTERNAL_REDIS = "redis://cache.example.internal:6379/0"
LABELS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
}


def helm_args(*sets: str) -> list[str]:
    """`--set` arguments for each of `sets`."""
    return [arg for value in sets for arg in ("--set", value)]


def install(kube: Kube, namespace: str, *sets: str, command: str = "install") -> None:
    """`helm install` (or upgrade) the chart as RELEASE, without hooks (see the module docstring)."""
    kube.helm(command, RELEASE, CHART, "-n", namespace, "--no-hooks", *helm_args(*sets))


def parse(kube: Kube, text: str, *, server: str = "") -> list[dict[str, Any]]:
    """The objects of a YAML stream, as JSON: through kubectl (client side, or a server-side dry run)."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="jobq-chart-") as f:
        f.write(text)
        f.flush()
        args = ["apply", "--dry-run=server", "-n", server] if server else ["create", "--dry-run=client"]
        stream = kube.kubectl(*args, "-f", f.name, "-o", "json").stdout
    return json_objects(stream)


def rendered(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    """The release's objects as helm rendered them (before the API server defaulted any field)."""
    return parse(kube, kube.helm("get", "manifest", RELEASE, "-n", namespace).stdout)


def names(kube: Kube, kind: str, namespace: str) -> set[str]:
    """Names of the release's objects of `kind` in the cluster."""
    return {o["metadata"]["name"] for o in kube.get(kind, "-l", INSTANCE, "-n", namespace)["items"]}


def pod_annotations(kube: Kube, namespace: str, deployment: str) -> dict[str, str]:
    """The pod template annotations of one of the release's Deployments."""
    found = kube.get("deployment", f"{RELEASE}-jobq-{deployment}", "-n", namespace)
    return dict(found["spec"]["template"]["metadata"]["annotations"])


def test_the_chart_passes_helm_lint_strict(kube: Kube) -> None:
    kube.helm("lint", "--strict", CHART)
    kube.helm(
        "lint", "--strict", CHART,
        *helm_args("postgresql.enabled=false", f"externalDatabase.url={EXTERNAL_DB}", "redis.enabled=false",
                   f"externalRedis.url={EXTERNAL_REDIS}", "api.ingress.enabled=true"),
    )  # fmt: skip
    for sets in (
        ["operator.enabled=false", "worker.metricsPort=0"],
        [
            "operator.scaler.minReplicas=0",
            "networkPolicy.enabled=true",
        ],
        [
            "monitoring.serviceMonitor.enabled=true",
            "monitoring.podMonitor.enabled=true",
            "monitoring.prometheusRule.enabled=true",
            "monitoring.dashboards.enabled=true",
        ],
    ):
        kube.helm("lint", "--strict", CHART, *helm_args(*sets))
    kube.helm("lint", "--strict", CHART, "--values", str(Path(CHART).parents[1] / "k8s" / "values.yaml"))


def test_default_install_creates_the_api_workers_and_bundled_databases(kube: Kube, namespace: str) -> None:
    install(kube, namespace)

    assert names(kube, "deployments", namespace) == {"demo-jobq-api", "demo-jobq-worker", "demo-jobq-operator"}
    assert names(kube, "workerscalers", namespace) == {"demo-jobq-worker"}
    assert names(kube, "statefulsets", namespace) == {"demo-jobq-postgresql", "demo-jobq-redis"}
    assert names(kube, "services", namespace) == {"demo-jobq-api", "demo-jobq-postgresql", "demo-jobq-redis"}
    assert names(kube, "poddisruptionbudgets", namespace) == {"demo-jobq-api", "demo-jobq-worker"}
    objects = rendered(kube, namespace)
    for obj in objects:
        assert set(obj["metadata"]["labels"]) >= LABELS, obj["metadata"]["name"]
        kind, name = obj["kind"].lower(), obj["metadata"]["name"]
        assert kube.get(kind, name, "-n", namespace)["metadata"]["uid"]

    # The api Service selects the api pods, which the controllers create (and which stay Pending).
    service = kube.get("service", "demo-jobq-api", "-n", namespace)
    selector = ",".join(f"{k}={v}" for k, v in service["spec"]["selector"].items())
    kube.until(lambda: kube.get("pods", "-l", selector, "-n", namespace)["items"], what="api pods")
    kube.until(lambda: names(kube, "replicasets", namespace), what="ReplicaSets")
    api = kube.get("deployment", "demo-jobq-api", "-n", namespace)["spec"]["template"]["spec"]
    container = api["containers"][0]
    assert container["image"] == "jobq-api:0.1.0"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert api["securityContext"]["runAsUser"] == 10001
    assert api["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]

    # The Secret's URLs point at the bundled servers with the passwords they were given.
    secret = {
        k: base64.b64decode(v).decode() for k, v in kube.get("secret", "demo-jobq", "-n", namespace)["data"].items()
    }
    pg_password = base64.b64decode(kube.get("secret", "demo-jobq-postgresql", "-n", namespace)["data"]["password"])
    assert secret["databaseUrl"] == f"postgresql://jobq:{pg_password.decode()}@demo-jobq-postgresql:5432/jobq"
    assert secret["redisUrl"].endswith("@demo-jobq-redis:6379/0")


def test_the_worker_count_belongs_to_the_operator_and_survives_an_upgrade(kube: Kube, namespace: str) -> None:
    install(kube, namespace)
    deployments = {o["metadata"]["name"]: o for o in rendered(kube, namespace) if o["kind"] == "Deployment"}
    worker = deployments["demo-jobq-worker"]
    assert "replicas" not in worker["spec"]
    pod = worker["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 25 + 15
    assert {"name": "JOBQ_DRAIN_S", "value": "25"} in pod["containers"][0]["env"]

    kube.kubectl("scale", "deployment/demo-jobq-worker", "--replicas=5", "-n", namespace)
    install(kube, namespace, "config.logLevel=DEBUG", command="upgrade")
    assert kube.get("deployment", "demo-jobq-worker", "-n", namespace)["spec"]["replicas"] == 5


def test_the_migration_hook_job_is_accepted_by_the_api_server(kube: Kube, namespace: str) -> None:
    text = kube.helm(
        "template", RELEASE, CHART, "-n", namespace, "--show-only", "templates/migration-secret.yaml",
        "--show-only", "templates/migration-job.yaml",
        *helm_args("postgresql.enabled=false", f"externalDatabase.url={EXTERNAL_DB}"),
    ).stdout  # fmt: skip
    objects = {o["kind"]: o for o in parse(kube, text, server=namespace)}
    job = objects["Job"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert objects["Secret"]["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "hook-succeeded" in job["metadata"]["annotations"]["helm.sh/hook-delete-policy"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "jobq_core.cli", "migrate", "--wait-s", "300"]
    assert not kube.get("jobs", "-n", namespace)["items"]  # a dry run stores nothing


def test_with_the_bundled_postgresql_the_migration_is_a_job_of_the_release_not_a_hook(
    kube: Kube, namespace: str
) -> None:
    # A post-install hook runs once every pod is ready, and the api is not ready before
    # its schema: `helm install --wait` (and Argo CD, Flux) would wait for ever.
    install(kube, namespace)
    [job] = [o for o in rendered(kube, namespace) if o["kind"] == "Job"]
    assert "helm.sh/hook" not in job["metadata"].get("annotations", {})
    assert job["metadata"]["name"].startswith("demo-jobq-migrate-")
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {e["valueFrom"]["secretKeyRef"]["name"] for e in env} == {"demo-jobq"}  # the release's own Secret
    assert names(kube, "jobs", namespace) == {job["metadata"]["name"]}


def test_the_helm_test_hook_pod_is_accepted_by_the_api_server(kube: Kube, namespace: str) -> None:
    text = kube.helm(
        "template", RELEASE, CHART, "-n", namespace, "--show-only", "templates/tests/submit-job.yaml"
    ).stdout
    [pod] = parse(kube, text, server=namespace)

    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert env["JOBQ_API_URL"] == "http://demo-jobq-api:80"
    assert "jobq.noop" in pod["spec"]["containers"][0]["command"][-1]
    assert not kube.get("pods", "-n", namespace)["items"]  # a dry run stores nothing


def test_api_autoscaling_adds_an_hpa_and_leaves_the_replica_count_to_it(kube: Kube, namespace: str) -> None:
    install(kube, namespace, "api.autoscaling.enabled=true", "api.autoscaling.maxReplicas=7")

    hpa = kube.get("hpa", "demo-jobq-api", "-n", namespace)["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "demo-jobq-api"}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 7)
    deployments = {o["metadata"]["name"]: o for o in rendered(kube, namespace) if o["kind"] == "Deployment"}
    assert "replicas" not in deployments["demo-jobq-api"]["spec"]


def test_install_with_ingress_and_external_servers(kube: Kube, namespace: str) -> None:
    install(
        kube, namespace,
        "postgresql.enabled=false", f"externalDatabase.url={EXTERNAL_DB}",
        "redis.enabled=false", f"externalRedis.url={EXTERNAL_REDIS}",
        "api.ingress.enabled=true", "api.ingress.className=nginx",
        "api.ingress.hosts[0].host=jobq.example.com", "api.ingress.hosts[0].paths[0].path=/",
        "api.ingress.hosts[0].paths[0].pathType=Prefix",
        "api.ingress.tls[0].secretName=jobq-tls", "api.ingress.tls[0].hosts[0]=jobq.example.com",
    )  # fmt: skip

    assert names(kube, "statefulsets", namespace) == set()
    ingress = kube.get("ingress", "demo-jobq-api", "-n", namespace)["spec"]
    assert ingress["ingressClassName"] == "nginx"
    assert ingress["tls"] == [{"secretName": "jobq-tls", "hosts": ["jobq.example.com"]}]
    backend = ingress["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "demo-jobq-api", "port": {"name": "http"}}
    data = kube.get("secret", "demo-jobq", "-n", namespace)["data"]
    assert base64.b64decode(data["databaseUrl"]).decode() == EXTERNAL_DB
    assert base64.b64decode(data["redisUrl"]).decode() == EXTERNAL_REDIS


def selector(spec: dict[str, Any]) -> str:
    """A label selector (matchLabels and matchExpressions) as a kubectl `-l` string."""
    terms = [f"{k}={v}" for k, v in spec.get("matchLabels", {}).items()]
    terms += [f"{e['key']} in ({','.join(e['values'])})" for e in spec.get("matchExpressions", [])]
    return ",".join(terms)


def admitted_ports(rule: dict[str, Any], pod: dict[str, Any]) -> set[tuple[str, int]]:
    """The (protocol, number) pairs an ingress rule opens on `pod`, named ports resolved as Kubernetes does."""
    return {(p.get("protocol", "TCP"), container_port(pod, p["port"])) for p in rule["ports"]}


def container_port(pod: dict[str, Any], port: int | str) -> int:
    """A port number, or the number of the pod's container port with that name."""
    if isinstance(port, int):
        return port
    [number] = [p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports", []) if p["name"] == port]
    return int(number)


def test_network_policies_let_only_jobq_pods_reach_the_bundled_servers(kube: Kube, namespace: str) -> None:
    api_port = 8123  # not the default: the api's policy must follow api.port
    install(kube, namespace, "networkPolicy.enabled=true", f"api.port={api_port}")

    assert names(kube, "networkpolicies", namespace) == {
        *("demo-jobq-api", "demo-jobq-worker", "demo-jobq-operator", "demo-jobq-no-ingress"),
        *("demo-jobq-postgresql", "demo-jobq-redis"),
    }

    def pods(label_selector: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = kube.get("pods", "-l", label_selector, "-n", namespace)["items"]
        return found

    def components(label_selector: str) -> set[str]:
        return {p["metadata"]["labels"]["app.kubernetes.io/component"] for p in pods(label_selector)}

    def service_target(name: str, pod: dict[str, Any]) -> tuple[int, set[tuple[str, int]]]:
        """The Service's port and the (protocol, pod port) it forwards to."""
        [port] = kube.get("service", name, "-n", namespace)["spec"]["ports"]
        return port["port"], {(port.get("protocol", "TCP"), container_port(pod, port["targetPort"]))}

    everyone = {"api", "worker", "operator", "postgresql", "redis", "migration"}
    kube.until(lambda: components(INSTANCE) == everyone, timeout_s=60, what="a pod of each component")
    secret = kube.get("secret", "demo-jobq", "-n", namespace)["data"]
    urls = {"postgresql": secret["databaseUrl"], "redis": secret["redisUrl"]}
    for server, url in urls.items():
        policy = kube.get("networkpolicy", f"demo-jobq-{server}", "-n", namespace)["spec"]
        assert policy["policyTypes"] == ["Ingress"], server
        [pod] = pods(selector(policy["podSelector"]))
        assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == server
        [rule] = policy["ingress"]
        [peer] = rule["from"]
        assert components(selector(peer["podSelector"])) == {"api", "worker", "operator", "migration"}
        # The port the jobq pods dial (their URL) reaches the server through its Service:
        # the policy must open exactly the pod port that Service forwards to.
        service_port, forwarded = service_target(f"demo-jobq-{server}", pod)
        assert urlparse(base64.b64decode(url).decode()).port == service_port, server
        assert admitted_ports(rule, pod) == forwarded, server
    api = kube.get("networkpolicy", "demo-jobq-api", "-n", namespace)["spec"]
    assert api["policyTypes"] == ["Ingress"]
    api_pods = pods(selector(api["podSelector"]))
    assert {p["metadata"]["labels"]["app.kubernetes.io/component"] for p in api_pods} == {"api"}
    api_pod = api_pods[0]
    [rule] = api["ingress"]
    assert "from" not in rule  # networkPolicy.apiFrom is empty: any source, but only on the api's port
    assert admitted_ports(rule, api_pod) == {("TCP", api_port)} == service_target("demo-jobq-api", api_pod)[1]


def test_an_existing_secret_replaces_the_charts_own(kube: Kube, namespace: str) -> None:
    kube.kubectl(
        "create", "secret", "generic", "urls", f"--from-literal=db={EXTERNAL_DB}",
        f"--from-literal=redis={EXTERNAL_REDIS}", "-n", namespace,
    )  # fmt: skip
    install(
        kube, namespace, "postgresql.enabled=false", "redis.enabled=false", "existingSecret=urls",
        "existingSecretKeys.databaseUrl=db", "existingSecretKeys.redisUrl=redis",
    )  # fmt: skip

    assert names(kube, "secrets", namespace) == set()
    env = kube.get("deployment", "demo-jobq-api", "-n", namespace)["spec"]["template"]["spec"]["containers"][0]["env"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env if "valueFrom" in e}
    assert refs == {
        "JOBQ_DATABASE_URL": {"name": "urls", "key": "db"},
        "JOBQ_REDIS_URL": {"name": "urls", "key": "redis"},
    }


def test_bad_values_are_rejected_naming_the_value(kube: Kube, namespace: str) -> None:
    cases = {
        "api.replicaCount=-1": "/api/replicaCount",
        "api.replicaCount=many": "/api/replicaCount",
        "worker.drainSeconds=soon": "/worker/drainSeconds",
        "worker.arqSettings=myapp/worker.py": "/worker/arqSettings",
        "replicas=3": "'replicas' not allowed",
        "api.autoscaling.maxReplicas=0": "/api/autoscaling/maxReplicas",
        "postgresql.enabled=false": "externalDatabase.url is required",
        "redis.enabled=false": "externalRedis.url is required",
        "worker.autoscaling.operator=false": "'autoscaling' not allowed",
        "worker.metricsPort=-1": "/worker/metricsPort",
        "operator.metricsPort=70000": "/operator/metricsPort",
        "operator.scaler.maxReplicas=0": "/operator/scaler/maxReplicas",
        "operator.scaler.minReplicas=20": "minReplicas (20) must not exceed operator.scaler.maxReplicas",
        "operator.scaler.jobsPerWorker=0": "/operator/scaler/jobsPerWorker",
        "operator.scaler.targetLatencySeconds=0": "/operator/scaler/targetLatencySeconds",
        "operator.scaler.scaleUp.maxStep=0": "/operator/scaler/scaleUp/maxStep",
        "operator.scaler.queues[0]=": "/operator/scaler/queues/0",
        "monitoring.serviceMonitor.interval=often": "/monitoring/serviceMonitor/interval",
        "monitoring.dashboards.labelKey=not a label": "/monitoring/dashboards/labelKey",
        "api.priorityClassName=Not_A_Class": "/api/priorityClassName",
        "worker.topologySpreadConstraints[0].maxSkew=1": "/worker/topologySpreadConstraints/0",
        "operator.topologySpreadConstraints[0].whenUnsatisfiable=Maybe": "/operator/topologySpreadConstraints/0",
        "worker.podDisruptionBudget.unhealthyPodEvictionPolicy=Never": "/worker/podDisruptionBudget/unhealthy",
        "operator.extraScaleTargets[0]=Not_A_Name": "/operator/extraScaleTargets/0",
        "passwordSeed=too-short": "/passwordSeed",
        "postgresql.auth.existingSecret=pg": "postgresql.auth.existingSecret needs existingSecret too",
        "redis.auth.existingSecret=redis": "redis.auth.existingSecret needs existingSecret too",
    }
    for value, message in cases.items():
        answer = kube.helm("install", RELEASE, CHART, "-n", namespace, "--no-hooks", "--set", value, check=False)
        assert answer.returncode != 0, value
        assert message in answer.stderr, (value, answer.stderr)
    assert kube.helm("list", "-n", namespace, "-q").stdout.strip() == ""


def test_upgrade_rolls_pods_on_config_change_and_only_what_changed(kube: Kube, namespace: str) -> None:
    install(kube, namespace)
    rolled = ("api", "worker", "operator")
    before = {d: pod_annotations(kube, namespace, d) for d in rolled}

    install(kube, namespace, "config.logLevel=DEBUG", command="upgrade")
    after = {d: pod_annotations(kube, namespace, d) for d in rolled}
    for deployment in rolled:
        assert after[deployment]["checksum/config"] != before[deployment]["checksum/config"], deployment
        assert after[deployment]["checksum/secret"] == before[deployment]["checksum/secret"], deployment
    assert kube.get("configmap", "demo-jobq", "-n", namespace)["data"]["JOBQ_LOG_LEVEL"] == "DEBUG"

    generation = kube.get("deployment", "demo-jobq-worker", "-n", namespace)["metadata"]["generation"]
    worker_template = kube.get("deployment", "demo-jobq-worker", "-n", namespace)["spec"]["template"]
    install(kube, namespace, "config.logLevel=DEBUG", "api.replicaCount=3", command="upgrade")
    assert kube.get("deployment", "demo-jobq-api", "-n", namespace)["spec"]["replicas"] == 3
    unchanged = kube.get("deployment", "demo-jobq-worker", "-n", namespace)
    assert unchanged["spec"]["template"] == worker_template
    assert unchanged["metadata"]["generation"] == generation


def test_uninstall_leaves_nothing_of_the_release_behind(kube: Kube, namespace: str) -> None:
    install(kube, namespace)
    kube.until(lambda: names(kube, "replicasets", namespace), what="ReplicaSets")
    kube.until(lambda: names(kube, "persistentvolumeclaims", namespace), what="the StatefulSets' claims")

    kube.helm("uninstall", RELEASE, "-n", namespace)

    kinds = kube.kubectl("api-resources", "--verbs=list", "--namespaced", "-o", "name").stdout.split()
    kinds = [k for k in kinds if not k.startswith("events")]

    def leftovers() -> list[str]:
        found = kube.kubectl("get", ",".join(kinds), "-l", INSTANCE, "-n", namespace, "-o", "name")
        return found.stdout.split()

    kube.until(lambda: not leftovers(), timeout_s=60, what="the release's objects to be gone")
    assert kube.helm("list", "-n", namespace, "-q").stdout.strip() == ""


def test_the_operator_runs_alone_with_its_account_and_scales_the_worker_deployment(kube: Kube, namespace: str) -> None:
    install(kube, namespace, "worker.concurrency=7", "operator.scaler.maxReplicas=4", "operator.scaler.queues={a,b}")

    operator = kube.get("deployment", "demo-jobq-operator", "-n", namespace)["spec"]
    assert operator["replicas"] == 1
    assert operator["strategy"] == {"type": "Recreate"}
    pod = operator["template"]["spec"]
    assert pod["serviceAccountName"] == "demo-jobq-operator"
    assert pod["automountServiceAccountToken"] is True
    [container] = pod["containers"]
    assert container["image"] == "jobq-operator:0.1.0"
    assert container["command"] == ["python", "-m", "jobq_operator"]
    assert container["ports"] == [{"name": "metrics", "containerPort": 8082, "protocol": "TCP"}]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "metrics", "scheme": "HTTP"}
    env = {e["name"]: e for e in container["env"]}
    assert env["JOBQ_OPERATOR_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["JOBQ_OPERATOR_METRICS_PORT"]["value"] == "8082"
    assert env["JOBQ_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "demo-jobq", "key": "databaseUrl"}
    assert container["envFrom"] == [{"configMapRef": {"name": "demo-jobq"}}]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # The controllers make its pod (Pending: no node), under the ServiceAccount the Role binds.
    kube.until(lambda: kube.get("pods", "-l", "app.kubernetes.io/component=operator", "-n", namespace)["items"],
               what="the operator pod")  # fmt: skip

    spec = kube.get("workerscaler", "demo-jobq-worker", "-n", namespace)["spec"]
    assert spec["targetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "demo-jobq-worker"}
    assert (spec["queues"], spec["minReplicas"], spec["maxReplicas"]) == (["a", "b"], 1, 4)
    assert spec["jobsPerWorker"] == 7
    assert spec["connection"] == {"secretName": "demo-jobq", "databaseUrlKey": "databaseUrl", "redisUrlKey": "redisUrl"}
    assert spec["scaleDown"]["stabilizationWindowSeconds"] == 300
    # The worker Deployment the scaler targets exists, with the metrics port the PodMonitor scrapes.
    worker = kube.get("deployment", "demo-jobq-worker", "-n", namespace)["spec"]["template"]["spec"]["containers"][0]
    assert worker["ports"] == [{"name": "metrics", "containerPort": 8081, "protocol": "TCP"}]
    assert worker["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert worker["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics", "scheme": "HTTP"}
    assert kube.get("configmap", "demo-jobq", "-n", namespace)["data"]["JOBQ_WORKER_METRICS_PORT"] == "8081"


def test_without_the_operator_the_chart_owns_the_worker_count(kube: Kube, namespace: str) -> None:
    install(kube, namespace, "operator.enabled=false", "worker.replicaCount=3", "worker.metricsPort=0")

    assert names(kube, "deployments", namespace) == {"demo-jobq-api", "demo-jobq-worker"}
    assert names(kube, "workerscalers", namespace) == set()
    assert names(kube, "serviceaccounts", namespace) == set()
    assert names(kube, "roles", namespace) == set()
    worker = kube.get("deployment", "demo-jobq-worker", "-n", namespace)["spec"]
    assert worker["replicas"] == 3
    assert "ports" not in worker["template"]["spec"]["containers"][0]
    assert "livenessProbe" not in worker["template"]["spec"]["containers"][0]
    assert "readinessProbe" not in worker["template"]["spec"]["containers"][0]
