"""The Kubernetes edge: the few API calls the operator makes, through kubernetes_asyncio.

Each call needs exactly one rule of the chart's operator Role (kopf adds the
workerscalers list/watch): deployments/scale get/patch (the target's name only), pods
list/patch, secrets get (the connection Secret's name only), events create,
workerscalers/status patch. A new call here needs its rule there, and
tests/k8s/test_chart_rbac.py lists both.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from jobq_core.errors import JobqError

from . import spec as crd

MERGE_PATCH = "application/merge-patch+json"
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
COMPONENT = "jobq-operator"
HOME_KUBECONFIG = Path.home() / ".kube" / "config"


class TargetNotFound(JobqError, LookupError):
    """The WorkerScaler's target Deployment does not exist."""


class ConnectionSecretInvalid(JobqError, LookupError):
    """The connection Secret is missing or lacks a key."""


@dataclass(frozen=True)
class Target:
    """The target Deployment's scale: replicas asked for, replicas there, and its pod selector."""

    replicas: int
    status_replicas: int
    selector: str


@dataclass(frozen=True)
class PodInfo:
    """A pod of the target, with its current deletion-cost annotation."""

    name: str
    deletion_cost: str | None
    terminating: bool


def now_iso() -> str:
    """The current time as Kubernetes writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def connect() -> client.ApiClient:
    """An API client from $KUBECONFIG (or ~/.kube/config) when present, else the pod's service account."""
    configuration = client.Configuration()
    if os.environ.get("KUBECONFIG") or HOME_KUBECONFIG.exists():
        await config.load_kube_config(client_configuration=configuration)
    else:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return client.ApiClient(configuration)


class Kube:
    """The calls of one operator process."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    async def target(self, namespace: str, name: str) -> Target:
        """The Deployment's scale subresource; :class:`TargetNotFound` when it does not exist."""
        try:
            scale = await self.apps.read_namespaced_deployment_scale(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                raise TargetNotFound(f"Deployment {namespace}/{name} not found") from exc
            raise
        return Target(
            replicas=int(scale.spec.replicas or 0),
            status_replicas=int(scale.status.replicas or 0),
            selector=scale.status.selector or "",
        )

    async def scale(self, namespace: str, name: str, replicas: int) -> None:
        """Set the Deployment's replicas through its scale subresource."""
        await self.apps.patch_namespaced_deployment_scale(
            name,
            namespace,
            {"spec": {"replicas": replicas}},
            _content_type=MERGE_PATCH,  # type: ignore[call-arg]
        )

    async def pods(self, namespace: str, selector: str) -> list[PodInfo]:
        """The pods matching `selector` (the target's)."""
        found = await self.core.list_namespaced_pod(namespace, label_selector=selector)
        return [
            PodInfo(
                name=p.metadata.name,
                deletion_cost=(p.metadata.annotations or {}).get(DELETION_COST),
                terminating=p.metadata.deletion_timestamp is not None,
            )
            for p in found.items
        ]

    async def set_deletion_cost(self, namespace: str, pod: str, cost: int) -> None:
        """Annotate `pod` with the cost the ReplicaSet controller weighs when it picks pods to remove."""
        body = {"metadata": {"annotations": {DELETION_COST: str(cost)}}}
        await self.core.patch_namespaced_pod(pod, namespace, body, _content_type=MERGE_PATCH)  # type: ignore[call-arg]

    async def connection_urls(self, namespace: str, conn: crd.Connection) -> tuple[str, str]:
        """The PostgreSQL and Redis URLs from the connection Secret."""
        try:
            secret = await self.core.read_namespaced_secret(conn.secret_name, namespace)
        except ApiException as exc:
            if exc.status in (403, 404):
                raise ConnectionSecretInvalid(f"Secret {conn.secret_name}: {exc.reason}") from exc
            raise
        data = secret.data or {}
        urls = []
        for key in (conn.database_url_key, conn.redis_url_key):
            if key not in data:
                raise ConnectionSecretInvalid(f"Secret {conn.secret_name} has no key {key!r}")
            urls.append(base64.b64decode(data[key]).decode())
        return urls[0], urls[1]

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Merge `status` into the WorkerScaler's status subresource."""
        await self.custom.patch_namespaced_custom_object_status(
            crd.GROUP,
            crd.VERSION,
            namespace,
            crd.PLURAL,
            name,
            {"status": status},
            _content_type=MERGE_PATCH,  # type: ignore[call-arg]
        )

    async def event(self, body: dict[str, Any], kind: str, reason: str, message: str) -> None:
        """Record a Kubernetes Event about the WorkerScaler `body` (kind: Normal or Warning)."""
        meta = body["metadata"]
        stamp = datetime.now(UTC)
        event = client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{meta['name']}.", namespace=meta["namespace"]),
            involved_object=client.V1ObjectReference(
                api_version=f"{crd.GROUP}/{crd.VERSION}",
                kind=crd.KIND,
                name=meta["name"],
                namespace=meta["namespace"],
                uid=meta.get("uid"),
                resource_version=meta.get("resourceVersion"),
            ),
            type=kind,
            reason=reason,
            message=message[:1024],
            source=client.V1EventSource(component=COMPONENT),
            reporting_component=COMPONENT,
            reporting_instance=os.environ.get("HOSTNAME", COMPONENT),
            first_timestamp=stamp,
            last_timestamp=stamp,
            count=1,
        )
        await self.core.create_namespaced_event(meta["namespace"], event)
