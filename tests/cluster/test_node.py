"""A real node: pods run, their logs and exec work, Services answer by ClusterIP and DNS
name, claims bind on the default StorageClass, NetworkPolicy is enforced, nothing leaves
the machine, and stopping puts the machine back as it was.

The last test stops the module's cluster and must stay last in this module.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.cluster.conftest import MachineState, NodeCluster
from tools.kube import host, netpol
from tools.kube.images import busybox_archive
from tools.kube.node import Cluster
from tools.kube.volumes import STORAGE_CLASS

pytestmark = pytest.mark.timeout(300)

# RFC 5737's TEST-NET-1: no server of ours is there, and the guard must reject it at once.
OUTSIDE_ADDRESS = "192.0.2.1"
CHART = Path(__file__).resolve().parents[2] / "charts" / "jobq"
CONNECT_TIMEOUT_S = 5


def busybox_pod(name: str, image: str, script: str, **spec: object) -> dict[str, object]:
    """A pod running `script` in the busybox image, never pulled."""
    container: dict[str, object] = {"name": "main", "image": image, "imagePullPolicy": "Never", "args": [script]}
    container.update(spec.pop("container", {}))  # type: ignore[call-overload]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [container], "terminationGracePeriodSeconds": 1, **spec},
    }


@pytest.fixture
def sleeper(node_cluster: NodeCluster, namespace: str) -> Iterator[str]:
    """A running pod that says hello and then waits, for exec and logs."""
    node_cluster.apply(namespace, busybox_pod("sleeper", node_cluster.busybox, "echo hello-from-the-node; sleep 3600"))
    node_cluster.wait_phase(namespace, "sleeper", "Running")
    yield "sleeper"


def exec_in(node_cluster: NodeCluster, namespace: str, pod: str, script: str) -> subprocess.CompletedProcess[str]:
    """Run `script` in the pod's shell through kubectl exec (the API server calls the kubelet)."""
    return node_cluster.cluster.kubectl("exec", "-n", namespace, pod, "--", "/bin/sh", "-c", script, check=False)


def test_a_pods_logs_are_readable(node_cluster: NodeCluster, namespace: str, sleeper: str) -> None:
    logs = node_cluster.kubectl("logs", "-n", namespace, sleeper)
    assert logs.strip() == "hello-from-the-node"


def test_exec_runs_a_command_in_the_pod(node_cluster: NodeCluster, namespace: str, sleeper: str) -> None:
    result = exec_in(node_cluster, namespace, sleeper, "echo $((6 * 7)) from $(cat /etc/hostname)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"42 from {sleeper}"


def web_pod(node_cluster: NodeCluster) -> dict[str, object]:
    """A busybox pod `web` (label app=web) serving "served-by-web" over HTTP on port 8080, Ready once it listens."""
    return busybox_pod(
        "web",
        node_cluster.busybox,
        "mkdir -p /www && echo served-by-web > /www/index.html && exec httpd -f -p 8080 -h /www",
        container={"readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}},
    )


def test_a_service_answers_by_cluster_ip_and_dns_name_from_another_pod(
    node_cluster: NodeCluster, namespace: str, sleeper: str
) -> None:
    web = web_pod(node_cluster)
    service: dict[str, object] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    node_cluster.apply(namespace, web, service)
    node_cluster.wait_phase(namespace, "web", "Running")
    cluster_ip = node_cluster.kubectl("get", "service", "web", "-n", namespace, "-o", "jsonpath={.spec.clusterIP}")

    def answers(address: str) -> bool:
        # nc, not wget: Debian's static busybox wget crashes (glibc's NSS in a static binary).
        request = r'printf "GET / HTTP/1.0\r\n\r\n"'
        result = exec_in(node_cluster, namespace, sleeper, f"{request} | nc -w 3 {address} 80")
        return result.stdout.strip().endswith("served-by-web")

    # kube-proxy programs the new Service within a second or two: poll, don't sleep.
    node_cluster.wait_for(f"an answer from ClusterIP {cluster_ip}", lambda: answers(cluster_ip), 30)
    name = f"web.{namespace}.svc.cluster.local"
    lookup = exec_in(node_cluster, namespace, sleeper, f"nslookup {name}")
    assert cluster_ip in lookup.stdout, lookup.stdout + lookup.stderr
    assert answers(name)
    # The search path of the pod's resolv.conf names the Service by its short name too.
    assert answers("web")


def test_a_claim_binds_on_the_default_storage_class_and_a_pod_writes_to_it(
    node_cluster: NodeCluster, namespace: str
) -> None:
    claim: dict[str, object] = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    token = uuid.uuid4().hex
    writer = busybox_pod(
        "writer",
        node_cluster.busybox,
        f"echo {token} > /data/token && cat /data/token",
        restartPolicy="Never",
        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
        container={"volumeMounts": [{"name": "data", "mountPath": "/data"}]},
    )
    node_cluster.apply(namespace, claim, writer)
    node_cluster.wait_phase(namespace, "writer", "Succeeded", "Failed")
    assert node_cluster.pod(namespace, "writer")["status"]["phase"] == "Succeeded"  # type: ignore[index]

    bound = json.loads(node_cluster.kubectl("get", "pvc", "data", "-n", namespace, "-o", "json"))
    assert bound["status"]["phase"] == "Bound"
    assert bound["spec"]["storageClassName"] == STORAGE_CLASS
    volume_name = bound["spec"]["volumeName"]
    volume = json.loads(node_cluster.kubectl("get", "pv", volume_name, "-o", "json"))
    folder = Path(volume["spec"]["local"]["path"])
    assert (folder / "token").read_text().strip() == token

    # Released by its claim, the volume is wiped and offered to the next claim.
    node_cluster.kubectl("delete", "pod", "writer", "-n", namespace, "--wait=true")
    node_cluster.kubectl("delete", "pvc", "data", "-n", namespace, "--wait=true")

    def available() -> bool:
        phase = node_cluster.kubectl("get", "pv", volume_name, "-o", "jsonpath={.status.phase}")
        return phase == "Available"

    node_cluster.wait_for(f"volume {volume_name} available again", available, 30)
    assert not any(folder.iterdir())


def test_the_charts_bundled_postgresql_and_redis_claims_bind(node_cluster: NodeCluster, namespace: str) -> None:
    """The chart's own StatefulSets (their claim templates, security contexts, volumes), with
    busybox standing in for the database images, which this test does not need."""
    rendered = subprocess.run(
        [
            str(node_cluster.cluster.bin_dir / "helm"),
            "template", "t", str(CHART), "--namespace", namespace,
            "--show-only", "templates/postgresql.yaml", "--show-only", "templates/redis.yaml",
        ],
        capture_output=True, text=True, check=True, env=node_cluster.cluster.env(),
    )  # fmt: skip
    objects = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    statefulsets = [o for o in objects if o["kind"] == "StatefulSet"]
    assert {s["metadata"]["name"] for s in statefulsets} == {"t-jobq-postgresql", "t-jobq-redis"}
    for statefulset in statefulsets:
        for container in statefulset["spec"]["template"]["spec"]["containers"]:
            data = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "data")
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                container.pop(probe, None)
            container |= {
                "image": node_cluster.busybox,
                "imagePullPolicy": "Never",
                "command": ["/bin/sh", "-c"],
                "args": [f"echo written > {data}/proof && exec sleep 3600"],
            }
    node_cluster.apply(namespace, *objects)

    for name in ("t-jobq-postgresql-0", "t-jobq-redis-0"):
        node_cluster.wait_phase(namespace, name, "Running")
    claims = json.loads(node_cluster.kubectl("get", "pvc", "-n", namespace, "-o", "json"))["items"]
    sizes = {c["metadata"]["name"]: c["spec"]["resources"]["requests"]["storage"] for c in claims}
    assert sizes == {"data-t-jobq-postgresql-0": "8Gi", "data-t-jobq-redis-0": "1Gi"}
    for claim in claims:
        assert claim["status"]["phase"] == "Bound"
        volume = json.loads(node_cluster.kubectl("get", "pv", claim["spec"]["volumeName"], "-o", "json"))
        assert (Path(volume["spec"]["local"]["path"]) / "proof").read_text() == "written\n"


def test_a_network_policy_lets_in_only_the_pods_it_names(node_cluster: NodeCluster, namespace: str) -> None:
    web = web_pod(node_cluster)
    policy: dict[str, object] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "web"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "web"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"access": "granted"}}}]}],
        },
    }
    granted = busybox_pod("granted", node_cluster.busybox, "sleep 3600")
    granted["metadata"]["labels"]["access"] = "granted"  # type: ignore[index]
    denied = busybox_pod("denied", node_cluster.busybox, "sleep 3600")
    node_cluster.apply(namespace, web, policy, granted, denied)
    for pod in ("web", "granted", "denied"):
        node_cluster.wait_phase(namespace, pod, "Running")
    address = node_cluster.pod(namespace, "web")["status"]["podIP"]  # type: ignore[index]

    def fetch(client: str) -> subprocess.CompletedProcess[str]:
        request = r'printf "GET / HTTP/1.0\r\n\r\n"'
        script = f"{request} | timeout {CONNECT_TIMEOUT_S} nc -w 2 {address} 8080"
        return exec_in(node_cluster, namespace, client, script)

    def served(result: subprocess.CompletedProcess[str]) -> bool:
        return result.stdout.strip().endswith("served-by-web")

    # kube-router programs a new pod's chain and the policy's address sets within a moment
    # of the pods starting: poll for both outcomes, then check the refusal once more.
    node_cluster.wait_for("the policy to refuse the unnamed pod", lambda: not served(fetch("denied")), 30)
    node_cluster.wait_for("the named pod let in", lambda: served(fetch("granted")), 30)
    started = time.monotonic()
    result = fetch("denied")
    assert not served(result), result.stdout
    # Rejected at once (kube-router's REJECT), not left to time out.
    assert time.monotonic() - started < CONNECT_TIMEOUT_S
    assert "refused" in result.stderr, result.stderr


def guard_counters() -> list[int]:
    """The packet counters of the guard's reject rules."""
    table = subprocess.run(
        ["nft", "--json", "list", "table", *host.GUARD_TABLE], capture_output=True, text=True, check=True
    )
    counters = []
    for item in json.loads(table.stdout)["nftables"]:
        for expression in item.get("rule", {}).get("expr", []):
            if "counter" in expression:
                counters.append(int(expression["counter"]["packets"]))
    return counters


def test_a_pod_cannot_reach_an_address_outside_the_machine(
    node_cluster: NodeCluster, namespace: str, sleeper: str
) -> None:
    # Without the guard the probe below would leave the machine: refuse to send it then.
    before = guard_counters()
    assert before, "the guard table has no counting reject rule"

    started = time.monotonic()
    result = exec_in(
        node_cluster, namespace, sleeper, f"timeout {CONNECT_TIMEOUT_S} nc -w 2 {OUTSIDE_ADDRESS} 80 </dev/null"
    )
    elapsed = time.monotonic() - started

    assert result.returncode != 0, f"a pod reached {OUTSIDE_ADDRESS}: {result.stdout}"
    # Rejected, not dropped: the connection fails at once instead of waiting for a timeout.
    assert elapsed < CONNECT_TIMEOUT_S, f"the connection hung for {elapsed:.1f}s"
    assert sum(guard_counters()) > sum(before), "the guard did not see the pod's packet"

    # Nor does a name outside the cluster resolve: the cluster DNS forwards nothing.
    lookup = exec_in(node_cluster, namespace, sleeper, "timeout 5 nslookup jobq.invalid")
    assert lookup.returncode != 0
    assert "Name:" not in lookup.stdout, lookup.stdout


def test_loading_an_image_with_a_short_name_fails_clearly(node_cluster: NodeCluster, tmp_path: Path) -> None:
    # The CRI would look `busybox:1` up under the default registry's name and never find it.
    archive = busybox_archive(tmp_path / "short.oci.tar", "busybox:1")
    with pytest.raises(ValueError, match="localhost/NAME:TAG"):
        node_cluster.cluster.load_images([archive])


def test_a_second_node_cluster_waits_for_the_first_and_then_fails_clearly(node_cluster: NodeCluster) -> None:
    started = time.monotonic()
    with pytest.raises(host.NodeBusyError, match=f"pid {os.getpid()}"):
        Cluster.start(node_cluster.cluster.bin_dir, lock_timeout_s=2)
    assert time.monotonic() - started < 30
    assert node_cluster.cluster.alive()
    assert node_cluster.kubectl("get", "node", "-o", "name").strip() == "node/jobq-node"


def test_stop_puts_the_machine_back_as_it_was(node_cluster: NodeCluster) -> None:
    cluster = node_cluster.cluster
    root = cluster.root
    pids = [p.popen.pid for p in cluster.processes.started]
    assert cluster.control_plane.alive()
    pod_pids = _pod_processes()
    assert pod_pids, "no pod process ran under the node's cgroup"
    # kube-router's chains are there to be removed (the policy test above made ipsets too).
    assert netpol.synced()
    assert netpol.leftovers(c.split()[-1] for c in MachineState.now().nft_chains)

    cluster.stop()

    after = MachineState.now()
    before = node_cluster.before
    assert host.BRIDGE not in after.links
    assert after.links <= before.links
    assert not any(host.GUARD_TABLE[1] in t or "kube-proxy" in t for t in after.nft_tables)
    assert after.nft_tables <= before.nft_tables
    # kube-router's iptables chains (nftables chains of `ip filter`) and ipsets are gone.
    assert netpol.leftovers(c.split()[-1] for c in after.nft_chains) == []
    assert after.nft_chains <= before.nft_chains
    assert netpol.leftovers(after.ipsets) == []
    assert after.ipsets <= before.ipsets
    assert after.proc_sys_mounts == before.proc_sys_mounts
    assert after.ip_forward == before.ip_forward
    # Where br_netfilter was loaded before, its setting is back; loading the module stays.
    assert after.bridge_nf_call_iptables == before.bridge_nf_call_iptables or before.bridge_nf_call_iptables == "absent"
    assert not after.cgroups
    assert not root.exists()
    assert not host.STATE_FILE.exists()
    assert not [m for m in Path("/proc/self/mountinfo").read_text().splitlines() if str(root) in m]
    assert after.cni_cache_entries == before.cni_cache_entries
    for pid in pids + pod_pids:
        assert not _running(pid), f"process {pid} still runs"


def _pod_processes() -> list[int]:
    pids: list[int] = []
    for procs in Path(f"/sys/fs/cgroup/pids/{host.CGROUP_ROOT}").rglob("cgroup.procs"):
        pids.extend(int(line) for line in procs.read_text().split())
    return pids


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie of ours is gone in all but name.
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    return state != "Z"
