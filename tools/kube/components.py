"""The configuration of the node's Kubernetes components: kubelet, kube-proxy, kube-router, kube-scheduler, CoreDNS."""

from __future__ import annotations

import json
from pathlib import Path

from tools.kube import host
from tools.kube.addons import NODE_NAME
from tools.kube.pki import KeyPair

CLUSTER_DOMAIN = "cluster.local"


def kubelet_config(
    folder: Path, *, ca: Path, serving: KeyPair, runtime_socket: Path, healthz_port: int
) -> dict[str, object]:
    """A KubeletConfiguration for this machine kind (cgroup v1, swap, no CAP_SYS_RESOURCE)."""
    # An empty resolv.conf: pods ask the cluster DNS only, never the machine's resolver.
    resolv = folder / "resolv.conf"
    resolv.write_text("")
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": host.NODE_IP,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca)},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(serving.cert),
        "tlsPrivateKeyFile": str(serving.key),
        "containerRuntimeEndpoint": f"unix://{runtime_socket}",
        "podLogsDir": str(folder / "pod-logs"),
        # The VM has cgroup v1 only (kubelet 1.37 refuses it unless told) and swap may be on.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{host.CGROUP_ROOT}",
        "failSwapOn": False,
        "clusterDNS": [host.NODE_IP],
        "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": str(resolv),
        # Images come from archives loaded into containerd: garbage-collecting them would
        # lose them for good, and a disk that fills up is the machine's business.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "serializeImagePulls": False,
        "maxPods": 110,
    }


def kubelet_args(folder: Path, config: Path, kubeconfig: Path) -> list[str]:
    """The kubelet's flags; everything else is in its config file."""
    return [
        f"--config={config}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={folder / 'kubelet'}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={host.NODE_IP}",
    ]


def kube_proxy_config(kubeconfig: Path, healthz_port: int, metrics_port: int) -> dict[str, object]:
    """kube-proxy in nftables mode: its rules live in its own tables, which host.py deletes on stop."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "nftables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": NODE_NAME,
        "bindAddress": host.NODE_IP,
        "clusterCIDR": host.POD_CIDR,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        # NodePorts on the bridge address only, never on the machine's outside interface.
        "nodePortAddresses": [f"{host.NODE_IP}/32"],
        # Zero leaves the machine's conntrack sysctls as they are.
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    }


def kube_router_args(kubeconfig: Path, service_cidr: str) -> list[str]:
    """kube-router as the NetworkPolicy enforcer only: no routing, no service proxy, no
    load-balancer allocator; no health or metrics server (node.py waits on its first sync)."""
    return [
        f"--kubeconfig={kubeconfig}",
        f"--hostname-override={NODE_NAME}",
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        "--run-loadbalancer=false",
        "--enable-cni=false",
        "--enable-ipv4=true",
        "--enable-ipv6=false",
        # Required: its INPUT chain lets traffic to Service addresses through to kube-proxy.
        f"--service-cluster-ip-range={service_cidr}",
        "--health-port=0",
        "--metrics-port=0",
    ]


def scheduler_args(kubeconfig: Path, serving: KeyPair, ca: Path, port: int, folder: Path) -> list[str]:
    """kube-scheduler on loopback, authenticating its health checks against the cluster."""
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={folder}",
        f"--tls-cert-file={serving.cert}",
        f"--tls-private-key-file={serving.key}",
        f"--client-ca-file={ca}",
        "--leader-elect=false",
        "--profiling=false",
    ]


def corefile(kubeconfig: Path, health_port: int, ready_port: int) -> str:
    """CoreDNS answering the cluster's zones on the bridge address, and nothing else.

    No `forward`: a name outside the cluster gets REFUSED (no zone matches), so no query
    ever leaves the machine.
    """
    zones = f"{CLUSTER_DOMAIN} in-addr.arpa ip6.arpa"
    return f"""\
{zones.replace(" ", ":53 ")}:53 {{
    bind {host.NODE_IP}
    errors
    health 127.0.0.1:{health_port}
    ready 127.0.0.1:{ready_port}
    kubernetes {zones} {{
        kubeconfig {json.dumps(str(kubeconfig))} jobq
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 30
}}
"""
