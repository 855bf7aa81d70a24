"""Offline validation of the rendered chart: no API server, just schemas.

`helm template` output for several value sets is checked with kubernetes-validate
(Kubernetes' own OpenAPI schemas, strict: unknown fields fail) and custom resources
against their CRDs' openAPIV3Schema: the chart's WorkerScaler CRD and the pinned
Prometheus Operator's CRDs (tools/kube/extras.sh crds). A quick check next to the
install tests, which run against the real API server.
"""

from __future__ import annotations

import copy
import functools
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.k8s.test_chart import CHART, EXTERNAL_DB, EXTERNAL_REDIS, helm_args
from tools.kube.binaries import build_binaries, extra, versions

KUBE_VERSION = versions()["KUBE_VERSION"]


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """PyYAML's safe loader, reading a bare `=` as the string it is (YAML 1.1 calls it a `value` tag)."""


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))
VALUE_SETS = {
    "defaults": [],
    "external-ingress-monitoring": [
        "postgresql.enabled=false", f"externalDatabase.url={EXTERNAL_DB}", "redis.enabled=false",
        f"externalRedis.url={EXTERNAL_REDIS}", "api.ingress.enabled=true", "api.ingress.tls[0].secretName=t",
        "api.autoscaling.enabled=true", "networkPolicy.enabled=true", "monitoring.serviceMonitor.enabled=true",
        "monitoring.podMonitor.enabled=true", "monitoring.prometheusRule.enabled=true",
        "monitoring.dashboards.enabled=true",
    ],
    "existing-secret-no-operator": [
        "postgresql.enabled=false", "redis.enabled=false", "existingSecret=urls", "operator.enabled=false",
        "worker.metricsPort=0",
    ],
    "operator-scaling-to-zero": ["operator.scaler.minReplicas=0"],
}  # fmt: skip


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema, from the chart's and the Prometheus Operator's CRDs."""
    files = [*sorted((Path(CHART) / "crds").glob("*.yaml")), *sorted(extra("crds").glob("*.yaml"))]
    schemas = {}
    for path in files:
        for crd in yaml.load_all(path.read_text(), Loader=_Loader):
            for version in crd["spec"]["versions"]:
                api_version = f"{crd['spec']['group']}/{version['name']}"
                schemas[(api_version, crd["spec"]["names"]["kind"])] = version["schema"]["openAPIV3Schema"]
    return schemas


def problems(obj: dict[str, Any], schemas: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """Why `obj` is invalid: against Kubernetes' schemas, or its CRD's schema for a custom resource."""
    name = f"{obj['kind']}/{obj['metadata']['name']}"
    schema = schemas.get((obj["apiVersion"], obj["kind"]))
    if schema is not None:
        # CRD schemas are OpenAPI v3.0: draft 4's keywords (boolean exclusiveMinimum); x-kubernetes-* are ignored.
        validator = jsonschema.Draft4Validator(schema)
        return [f"{name}: {'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]
    try:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{name}: {'.'.join(map(str, error.path))}: {error.message}"]
    return []


@pytest.fixture(scope="module")
def render() -> Any:
    helm = build_binaries() / "helm"

    def render(*args: str) -> list[dict[str, Any]]:
        result = subprocess.run([str(helm), "template", "demo", CHART, "-n", "jobq", "--include-crds", *args],
                                capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
        assert result.returncode == 0, result.stderr
        return [o for o in yaml.safe_load_all(result.stdout) if o]

    return render


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_rendered_objects_are_valid_offline(render: Any, name: str) -> None:
    schemas = crd_schemas()
    objects = render(*helm_args(*VALUE_SETS[name]))
    assert len(objects) > 5
    found = [p for obj in objects for p in problems(obj, schemas)]
    assert not found, "\n".join(found)


def test_the_k8s_values_are_valid_offline(render: Any) -> None:
    schemas = crd_schemas()
    objects = render("--values", str(Path(CHART).parents[1] / "k8s" / "values.yaml"))
    found = [p for obj in objects for p in problems(obj, schemas)]
    assert not found, "\n".join(found)


def test_offline_validation_catches_bad_objects(render: Any) -> None:
    schemas = crd_schemas()
    objects = render(*helm_args(*VALUE_SETS["external-ingress-monitoring"]))
    by_kind = {o["kind"]: o for o in objects}
    cases = []
    deployment = copy.deepcopy(by_kind["Deployment"])
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = {"not": "a string"}
    cases.append(deployment)
    service = copy.deepcopy(by_kind["Service"])
    service["spec"]["portz"] = []  # strict: unknown fields fail
    cases.append(service)
    scaler = copy.deepcopy(by_kind["WorkerScaler"])
    scaler["spec"]["maxReplicas"] = 0
    cases.append(scaler)
    monitor = copy.deepcopy(by_kind["PodMonitor"])
    monitor["spec"]["podMetricsEndpoints"] = "metrics"
    cases.append(monitor)
    for obj in cases:
        assert problems(obj, schemas), obj["kind"]
