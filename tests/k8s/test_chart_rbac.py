"""The operator's ServiceAccount, bound by the chart's RBAC, may do what it needs and no more.

Each question is a real SubjectAccessReview (`kubectl auth can-i --as=...`) answered by
the API server's RBAC authorizer.
"""

from __future__ import annotations

import json
import tempfile
from typing import Any

from tests.k8s.kube import Kube, json_objects
from tests.k8s.test_chart import CHART, EXTERNAL_DB, EXTERNAL_REDIS, RELEASE, helm_args

WS = "workerscalers.autoscaling.jobq.dev"
WORKER = "deployments.apps/demo-jobq-worker"
# Every call the operator makes (operator/jobq_operator/kube.py), and kopf's watch of its
# WorkerScalers: the Role must allow each, by name where the call names one.
NEEDED = [
    ("list", WS), ("watch", WS),
    ("patch", f"{WS}/demo-jobq-worker", "--subresource=status"), ("patch", f"{WS}/yours", "--subresource=status"),
    ("get", WORKER, "--subresource=scale"), ("patch", WORKER, "--subresource=scale"),
    ("list", "pods"), ("patch", "pods/demo-jobq-worker-5d9f8-abcde"),
    ("create", "events"),
    ("get", "secrets/demo-jobq"),
]  # fmt: skip
# Everything else: what the code never calls, and the calls it makes aimed elsewhere.
DENIED = [
    # Deployments only through the worker's scale: not the Deployment (its pod template,
    # image included), not another Deployment's or StatefulSet's scale.
    ("get", WORKER), ("patch", WORKER), ("update", WORKER), ("delete", WORKER),
    ("get", "deployments.apps"), ("list", "deployments.apps"), ("watch", "deployments.apps"),
    ("create", "deployments.apps"), ("update", WORKER, "--subresource=scale"),
    ("get", "deployments.apps", "--subresource=scale"), ("patch", "deployments.apps", "--subresource=scale"),
    ("patch", "deployments.apps/demo-jobq-api", "--subresource=scale"),
    ("patch", "deployments.apps/demo-jobq-operator", "--subresource=scale"),
    ("get", "deployments.apps/demo-jobq-api", "--subresource=scale"),
    ("patch", "statefulsets.apps/demo-jobq-postgresql", "--subresource=scale"),
    ("patch", "replicasets.apps"), ("list", "replicasets.apps"),
    # Pods: list and patch, nothing more.
    ("get", "pods/demo-jobq-worker-5d9f8-abcde"), ("watch", "pods"), ("update", "pods"), ("delete", "pods"),
    ("deletecollection", "pods"), ("create", "pods"),
    ("create", "pods", "--subresource=exec"), ("create", "pods", "--subresource=eviction"),
    ("get", "pods", "--subresource=log"), ("patch", "pods", "--subresource=status"),
    ("patch", "pods", "--subresource=ephemeralcontainers"),
    # Events: created, never changed or read; none through events.k8s.io.
    ("patch", "events"), ("update", "events"), ("delete", "events"), ("list", "events"),
    ("create", "events.events.k8s.io"), ("patch", "events.events.k8s.io"),
    # Secrets: the connection Secret, read; no other, and no listing.
    ("get", "secrets"), ("list", "secrets"), ("watch", "secrets"), ("get", "secrets/someone-elses"),
    ("get", "secrets/demo-jobq-postgresql"), ("get", "secrets/demo-jobq-redis"), ("create", "secrets"),
    ("patch", "secrets/demo-jobq"), ("update", "secrets/demo-jobq"), ("delete", "secrets/demo-jobq"),
    # Its WorkerScalers: watched, their status patched; nothing else.
    ("get", WS), ("create", WS), ("patch", WS), ("delete", WS), ("update", WS), ("deletecollection", WS),
    ("get", WS, "--subresource=status"), ("update", WS, "--subresource=status"),
    ("get", "configmaps"), ("list", "services"), ("create", "jobs.batch"),
    ("create", "leases.coordination.k8s.io"), ("list", "poddisruptionbudgets.policy"),
    ("create", "roles.rbac.authorization.k8s.io"), ("create", "rolebindings.rbac.authorization.k8s.io"),
    ("patch", "nodes"), ("list", "nodes"), ("list", "namespaces"), ("create", "namespaces"),
    ("get", "customresourcedefinitions.apiextensions.k8s.io"),
    ("list", "customresourcedefinitions.apiextensions.k8s.io"),
    ("impersonate", "serviceaccounts"), ("create", "serviceaccounts", "--subresource=token"),
    ("list", "kopfpeerings.kopf.dev"), ("patch", "clusterkopfpeerings.kopf.dev"),
]  # fmt: skip


def can_i(kube: Kube, namespace: str, account: str, *question: str, where: str = "") -> bool:
    """`kubectl auth can-i` for the release's operator account in `namespace`, asked about `where`."""
    answer = kube.kubectl(
        "auth", "can-i", *question, f"--as=system:serviceaccount:{namespace}:{account}", "-n", where or namespace,
        check=False,
    )  # fmt: skip
    assert answer.stdout.strip() in ("yes", "no"), (question, answer.stdout, answer.stderr)
    return answer.stdout.strip() == "yes"


def review(question: tuple[str, ...], namespace: str, account: str, where: str) -> dict[str, Any]:
    """The SubjectAccessReview `kubectl auth can-i --as=<the account>` sends for `question`."""
    verb, resource, *flags = question
    resource, _, name = resource.partition("/")
    resource, _, group = resource.partition(".")
    attributes = {"verb": verb, "resource": resource, "group": group, "namespace": where, "name": name}
    for flag in flags:
        attributes["subresource"] = flag.removeprefix("--subresource=")
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": f"system:serviceaccount:{namespace}:{account}",
            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"],
            "resourceAttributes": attributes,
        },
    }


def answers(kube: Kube, namespace: str, account: str, questions: list[tuple[str, ...]], where: str = "") -> list[bool]:
    """The API server's answers to many questions at once (one kubectl run; `can_i` asks one)."""
    reviews = {"apiVersion": "v1", "kind": "List",
               "items": [review(q, namespace, account, where or namespace) for q in questions]}  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="jobq-sar-") as f:
        json.dump(reviews, f)
        f.flush()
        items = json_objects(kube.kubectl("create", "-f", f.name, "-o", "json").stdout)
    assert len(items) == len(questions)
    return [bool(item["status"].get("allowed")) for item in items]


def test_the_operator_may_do_exactly_what_it_needs_in_its_namespace(kube: Kube, namespace: str) -> None:
    kube.helm("install", RELEASE, CHART, "-n", namespace, "--no-hooks")
    account = "demo-jobq-operator"

    refused = [q for q, yes in zip(NEEDED, answers(kube, namespace, account, NEEDED), strict=True) if not yes]
    assert not refused, f"the operator may not: {refused}"
    allowed = [q for q, yes in zip(DENIED, answers(kube, namespace, account, DENIED), strict=True) if yes]
    assert not allowed, f"the operator may: {allowed}"
    # kubectl auth can-i (impersonating the account) agrees, for a few of each.
    assert can_i(kube, namespace, account, "get", "secrets/demo-jobq")
    assert can_i(kube, namespace, account, "patch", WORKER, "--subresource=scale")
    assert can_i(kube, namespace, account, "patch", "pods")
    assert not can_i(kube, namespace, account, "patch", "deployments.apps/demo-jobq-api", "--subresource=scale")
    assert not can_i(kube, namespace, account, "patch", WORKER)
    assert not can_i(kube, namespace, account, "delete", "pods")
    assert not can_i(kube, namespace, account, "get", "secrets")
    assert not can_i(kube, namespace, account, "get", "secrets/demo-jobq-postgresql")
    assert not can_i(kube, namespace, account, "delete", "deployments.apps")
    assert not can_i(kube, namespace, account, "list", "secrets")
    assert not can_i(kube, namespace, account, "patch", "nodes")

    # Nothing at all in another namespace, not even what it may do at home.
    kube.kubectl("create", "namespace", f"{namespace}-other")
    try:
        asked = NEEDED
        said = answers(kube, namespace, account, asked, where=f"{namespace}-other")
        elsewhere = [q for q, yes in zip(asked, said, strict=True) if yes]
        assert not can_i(kube, namespace, account, "get", "pods", where=f"{namespace}-other")
        assert not elsewhere, f"the operator may, in another namespace: {elsewhere}"
    finally:
        kube.kubectl("delete", "namespace", f"{namespace}-other", "--wait=false")
    # And the workers' and the api's pods run without any API access (no token mounted).
    for component in ("api", "worker"):
        deployment = kube.get("deployment", f"demo-jobq-{component}", "-n", namespace)
        assert deployment["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_with_an_existing_secret_the_operator_reads_that_one_and_nothing_cluster_wide(
    kube: Kube, namespace: str
) -> None:
    kube.kubectl(
        "create", "secret", "generic", "urls", f"--from-literal=db={EXTERNAL_DB}",
        f"--from-literal=redis={EXTERNAL_REDIS}", "-n", namespace,
    )  # fmt: skip
    sets = ["postgresql.enabled=false", "redis.enabled=false", "existingSecret=urls",
            "existingSecretKeys.databaseUrl=db", "existingSecretKeys.redisUrl=redis"]  # fmt: skip
    kube.helm("install", RELEASE, CHART, "-n", namespace, "--no-hooks", *helm_args(*sets))
    account = "demo-jobq-operator"

    assert can_i(kube, namespace, account, "get", "secrets/urls")
    assert not can_i(kube, namespace, account, "get", "secrets/demo-jobq")
    connection = kube.get("workerscaler", "demo-jobq-worker", "-n", namespace)["spec"]["connection"]
    assert connection == {"secretName": "urls", "databaseUrlKey": "db", "redisUrlKey": "redis"}
    crds = "customresourcedefinitions.apiextensions.k8s.io"
    assert not can_i(kube, namespace, account, "watch", crds)

    # Nothing cluster-wide: uninstalling leaves no ClusterRole or binding behind either.
    kube.helm("uninstall", RELEASE, "-n", namespace)
    assert not kube.kubectl("get", "clusterroles,clusterrolebindings", "-l", "app.kubernetes.io/instance=demo",
                            "-o", "name").stdout.strip()  # fmt: skip


def test_extra_scale_targets_add_their_deployments_and_nothing_else(kube: Kube, namespace: str) -> None:
    kube.helm("install", RELEASE, CHART, "-n", namespace, "--no-hooks",
              *helm_args("operator.extraScaleTargets={batch-workers,reports}"))  # fmt: skip
    account = "demo-jobq-operator"

    scale = "--subresource=scale"
    asked = [("patch", f"deployments.apps/{name}", scale) for name in ("demo-jobq-worker", "batch-workers", "reports")]
    assert answers(kube, namespace, account, asked) == [True, True, True]
    assert answers(kube, namespace, account, [("get", "deployments.apps/reports", scale)]) == [True]
    others = [("patch", "deployments.apps/demo-jobq-api", scale), ("patch", "deployments.apps/batch-workers")]
    assert answers(kube, namespace, account, others) == [False, False]
    assert not can_i(kube, namespace, account, "patch", "deployments.apps/other", scale)
