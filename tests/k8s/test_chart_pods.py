"""Every pod the chart can make — Deployments, StatefulSets, the migration hook, the `helm test`
pod — asks for what it needs and is bounded in what it may take: CPU and memory requests, a
memory limit, and a size limit on each emptyDir (root filesystems are read-only, so /tmp is
where a runaway writer would fill the node)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.k8s.kube import Kube
from tests.k8s.test_chart import CHART, RELEASE, helm_args, install

# Value sets that between them render every pod template of the chart.
RENDERS = {
    "defaults": [],
    "plain migration Job": ["migration.helmHook=false"],
}


def pod_specs(stream: str) -> dict[str, dict[str, Any]]:
    """Each rendered object's pod spec by `Kind/name`: a Pod's own, a controller's template."""
    specs = {}
    for obj in filter(None, yaml.safe_load_all(stream)):
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] == "Pod":
            specs[name] = obj["spec"]
        elif "template" in obj.get("spec", {}):
            specs[name] = obj["spec"]["template"]["spec"]
    return specs


@pytest.mark.parametrize("render", RENDERS)
def test_every_container_has_requests_and_a_memory_limit_and_every_emptydir_a_size_limit(
    kube: Kube, render: str
) -> None:
    stream = kube.helm("template", RELEASE, CHART, *helm_args(*RENDERS[render])).stdout
    specs = pod_specs(stream)
    kinds = {name.split("/")[0] for name in specs}
    assert {"Deployment", "StatefulSet", "Job", "Pod"} <= kinds, f"not every pod template rendered: {sorted(specs)}"

    unbounded = []
    for name, spec in specs.items():
        for container in spec.get("initContainers", []) + spec["containers"]:
            resources = container.get("resources", {})
            requests, limits = resources.get("requests", {}), resources.get("limits", {})
            if not {"cpu", "memory"} <= requests.keys() or "memory" not in limits:
                unbounded.append(f"{name} container {container['name']}: resources {resources}")
        for volume in spec.get("volumes", []):
            if "emptyDir" in volume and "sizeLimit" not in volume["emptyDir"]:
                unbounded.append(f"{name} volume {volume['name']}: emptyDir without sizeLimit")
    assert unbounded == []


def test_the_tmp_size_limit_is_a_value(kube: Kube) -> None:
    stream = kube.helm("template", RELEASE, CHART, *helm_args("tmpSizeLimit=16Mi")).stdout
    limits = {
        volume["emptyDir"]["sizeLimit"]
        for spec in pod_specs(stream).values()
        for volume in spec.get("volumes", [])
        if "emptyDir" in volume
    }
    assert limits == {"16Mi"}
    refused = kube.helm("template", RELEASE, CHART, *helm_args("tmpSizeLimit=lots"), check=False)
    assert refused.returncode != 0 and "tmpSizeLimit" in refused.stderr


def test_a_private_registry_and_pull_secret_reach_every_pod_the_bundled_servers_too(kube: Kube) -> None:
    sets = ("image.registry=mirror.example/team", "imagePullSecrets[0].name=regcred")
    specs = pod_specs(kube.helm("template", RELEASE, CHART, *helm_args(*sets)).stdout)
    assert {"StatefulSet/demo-jobq-postgresql", "StatefulSet/demo-jobq-redis"} <= specs.keys()
    images = {c["image"] for spec in specs.values() for c in spec["containers"]}
    assert {i for i in images if not i.startswith("mirror.example/team/")} == set()
    assert {name for name, spec in specs.items() if spec.get("imagePullSecrets") != [{"name": "regcred"}]} == set()
    # A server's own registry wins over the shared one.
    own = pod_specs(kube.helm("template", RELEASE, CHART, *helm_args(*sets, "redis.image.registry=hub.example")).stdout)
    assert own["StatefulSet/demo-jobq-redis"]["containers"][0]["image"] == "hub.example/redis:7.4.5"


def test_the_api_and_worker_take_a_service_account_extra_env_volumes_and_sidecars(kube: Kube, namespace: str) -> None:
    sets = [
        *("worker.serviceAccount.create=true", "worker.serviceAccount.automountToken=true"),
        "worker.serviceAccount.annotations.iam\\.example\\.com/role=jobs",
        *("worker.extraEnv[0].name=JOBQ_LOG_LEVEL", "worker.extraEnv[0].value=DEBUG"),
        "worker.extraEnvFrom[0].secretRef.name=handler-secrets",
        *("worker.extraVolumes[0].name=certs", "worker.extraVolumes[0].secret.secretName=certs"),
        *("worker.extraVolumeMounts[0].name=certs", "worker.extraVolumeMounts[0].mountPath=/certs"),
        *("worker.sidecars[0].name=db-proxy", "worker.sidecars[0].image=db-proxy:1"),
        "api.serviceAccount.name=team-api",
    ]
    install(kube, namespace, *sets)

    account = kube.get("serviceaccount", "demo-jobq-worker", "-n", namespace)
    assert account["metadata"]["annotations"]["iam.example.com/role"] == "jobs"
    worker = kube.get("deployment", "demo-jobq-worker", "-n", namespace)["spec"]["template"]["spec"]
    assert (worker["serviceAccountName"], worker["automountServiceAccountToken"]) == ("demo-jobq-worker", True)
    main, sidecar = worker["containers"]
    assert sidecar["name"] == "db-proxy"
    # `env` beats the chart's ConfigMap (envFrom): the user's log level is the one the process sees.
    assert main["env"][-1] == {"name": "JOBQ_LOG_LEVEL", "value": "DEBUG"}
    assert main["envFrom"][-1] == {"secretRef": {"name": "handler-secrets"}}
    assert {"name": "certs", "mountPath": "/certs"} in main["volumeMounts"]
    assert {"name": "certs", "secret": {"secretName": "certs", "defaultMode": 420}} in worker["volumes"]
    api = kube.get("deployment", "demo-jobq-api", "-n", namespace)["spec"]["template"]["spec"]
    assert (api["serviceAccountName"], api["automountServiceAccountToken"]) == ("team-api", False)
    # The chart creates only what it was asked to: no account for the api, whose name is the user's.
    assert "demo-jobq-api" not in {a["metadata"]["name"] for a in kube.get("serviceaccounts", "-n", namespace)["items"]}


def test_a_created_service_account_takes_the_given_name(kube: Kube) -> None:
    sets = ("worker.serviceAccount.create=true", "worker.serviceAccount.name=jobs-runner")
    stream = kube.helm("template", RELEASE, CHART, *helm_args(*sets)).stdout
    accounts = {
        o["metadata"]["name"] for o in filter(None, yaml.safe_load_all(stream)) if o["kind"] == "ServiceAccount"
    }
    assert "jobs-runner" in accounts
    assert pod_specs(stream)["Deployment/demo-jobq-worker"]["serviceAccountName"] == "jobs-runner"
