"""The objects a node cluster needs beyond what the API server bootstraps: RBAC for the
node's components (storage is in volumes.py)."""

from __future__ import annotations

NODE_NAME = "jobq-node"
# The user names in the components' client certificates.
APISERVER_KUBELET_CLIENT = "kube-apiserver-kubelet-client"
COREDNS_USER = "jobq-coredns"
KUBE_ROUTER_USER = "jobq-kube-router"


def rbac() -> list[dict[str, object]]:
    """kubectl exec/logs through the kubelet, CoreDNS's read access to Services and endpoints,
    and kube-router's to what its informers watch (it writes nothing to the API)."""
    return [
        _binding("jobq:apiserver-kubelet", "system:kubelet-api-admin", APISERVER_KUBELET_CLIENT),
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "jobq:coredns"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
            ],
        },
        _binding("jobq:coredns", "jobq:coredns", COREDNS_USER),
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "jobq:kube-router"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["pods", "namespaces", "nodes", "services", "endpoints"],
                    "verbs": ["get", "list", "watch"],
                },
                {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["list", "watch"]},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
            ],
        },
        _binding("jobq:kube-router", "jobq:kube-router", KUBE_ROUTER_USER),
    ]


def _binding(name: str, role: str, user: str) -> dict[str, object]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }


def as_list(objects: list[dict[str, object]]) -> dict[str, object]:
    """One v1 List for a single `kubectl apply -f -`."""
    return {"apiVersion": "v1", "kind": "List", "items": objects}
