"""A Kubernetes cluster with one real node on this machine: the control plane of cluster.py
plus kube-scheduler, a kubelet on containerd + runc, kube-proxy (nftables), CNI, CoreDNS,
local volumes, and kube-router enforcing NetworkPolicy (netpol.py).

    python -m tools.kube.node up      # start, print KUBECONFIG=...; Ctrl-C stops

From Python:

    with Cluster.start() as cluster:
        cluster.load_images([Path("jobq-api.oci.tar")])
        subprocess.run(["kubectl", "get", "nodes"], env=cluster.env())

Needs root. Pods get addresses in 10.244.0.0/24 on the bridge `jobq0`, whose
10.244.0.1 is the node's IP, the pods' gateway, the API server's and CoreDNS's address.
Nothing pods send leaves the machine (host.py's guard). One node cluster runs on the
machine at a time; stop() undoes every change to the machine, and the next start
cleans up after a run that crashed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from tools.kube import addons, components, host, netpol
from tools.kube import volumes as local_volumes
from tools.kube.binaries import build_binaries, install_node_packages
from tools.kube.cluster import SERVICE_CLUSTER_IP_RANGE, ControlPlane, free_port, run_in_foreground
from tools.kube.images import pause_archive
from tools.kube.pki import KeyPair, Pki
from tools.kube.processes import Processes
from tools.kube.runtime import Containerd

START_TIMEOUT_S = 180.0
LOCK_TIMEOUT_S = 600.0
VOLUMES = 16


@dataclass
class Cluster:
    """A running control plane and node; `stop()` ends every process and undoes every machine change."""

    bin_dir: Path
    lock: host.NodeLock
    changes: host.HostChanges
    processes: Processes
    plane: ControlPlane | None = None
    runtime: Containerd | None = None
    keep: bool = False
    network_policy: bool = True
    _ports: dict[str, int] = field(default_factory=dict)
    _recycler: local_volumes.Recycler | None = None
    _stopped: bool = False
    _undone: bool = False

    @classmethod
    def start(
        cls,
        bin_dir: Path | None = None,
        *,
        timeout_s: float = START_TIMEOUT_S,
        lock_timeout_s: float = LOCK_TIMEOUT_S,
        volumes: int = VOLUMES,
        keep: bool = False,
        network_policy: bool = True,
        say: Callable[[str], object] = lambda line: print(f"# {line}", file=sys.stderr),
        on_locked: Callable[[], object] = lambda: None,
    ) -> Cluster:
        """Start everything and return once the node is Ready, CoreDNS answers, NetworkPolicy
        is enforced and the volumes exist.

        `bin_dir` holds build.sh's binaries (built, or found in the cache, when not given).
        Waits up to `lock_timeout_s` for another node cluster on the machine to stop.
        `keep` leaves the cluster's folder (logs, certificates) behind on stop.
        `network_policy=False` runs no enforcer: NetworkPolicies are stored and ignored, as
        on a cluster whose network plugin does not implement them.
        `on_locked` runs once the machine is this cluster's and before it changes anything
        (a test reads the machine's state there: before the lock, another cluster may be up).
        """
        install_node_packages()
        bin_dir = bin_dir or build_binaries(groups=("all",))
        lock = host.NodeLock()
        lock.acquire(lock_timeout_s, on_wait=say)
        try:
            leftover = host.HostChanges.leftover()
            if leftover is not None:
                say(f"cleaning up after an earlier node cluster that did not stop ({leftover.root})")
                leftover.undo()
                shutil.rmtree(leftover.root, ignore_errors=True)
            on_locked()
            root = Path(tempfile.mkdtemp(prefix="jobq-kube-"))
            changes = host.HostChanges(root)
            cluster = cls(bin_dir, lock, changes, Processes(root / "logs"), keep=keep, network_policy=network_policy)
        except BaseException:
            lock.release()
            raise
        try:
            cluster._start(time.monotonic() + timeout_s, volumes)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- what users of a running cluster need -----------------------------------------

    @property
    def control_plane(self) -> ControlPlane:
        """The cluster's API server, etcd and controller-manager."""
        assert self.plane is not None, "the cluster is not running"
        return self.plane

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (system:masters)."""
        return self.control_plane.kubeconfig

    @property
    def root(self) -> Path:
        """The cluster's folder: certificates, logs, containerd, kubelet, volumes."""
        return self.changes.root

    def env(self) -> dict[str, str]:
        """This process's environment pointed at the cluster (KUBECONFIG, kubectl and helm on PATH)."""
        return self.control_plane.env()

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout_s: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against the cluster as admin."""
        result = subprocess.run(
            [str(self.bin_dir / "kubectl"), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(),
            check=False,
            timeout=timeout_s,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def load_images(self, archives: list[Path]) -> list[str]:
        """Import OCI image archives into the node's containerd; returns the image names pods can use
        (with imagePullPolicy Never or IfNotPresent)."""
        assert self.runtime is not None, "the cluster is not running"
        return self.runtime.load_images([Path(a) for a in archives])

    def alive(self) -> bool:
        """Whether every process of the control plane and the node still runs."""
        return self.plane is not None and self.plane.alive() and self.processes.alive()

    def logs(self, lines: int = 30) -> str:
        """The end of every process's log, for failure messages."""
        plane = self.plane.logs(lines) if self.plane else ""
        return f"{plane}\n{self.processes.logs(lines)}"

    def stop(self) -> None:
        """Remove the pods, stop the node's processes and the control plane, undo the machine changes.

        Once only: a second call (a test stopped the cluster, then its fixture's `with` ends)
        must not undo again, since by then another run may hold the lock and the machine.
        Every step runs even when an earlier one fails; the lock goes last.
        """
        if self._stopped:
            return
        self._stopped = True
        with contextlib.ExitStack() as steps:
            steps.callback(self.lock.release)
            steps.callback(self._remove_folder)
            steps.callback(self._undo)
            # Before the bridge goes: an API server whose address vanished waits out a
            # timeout deleting its lease. The folder goes after undo's unmounts.
            steps.callback(self._stop_control_plane)
            steps.callback(self.processes.stop)
            steps.callback(self._remove_pods)
            if self._recycler is not None:
                steps.callback(self._recycler.stop)

    def _remove_pods(self) -> None:
        if self.runtime is not None and self.runtime.processes.alive():
            self.runtime.remove_pods(self.bin_dir / "crictl")
        self.runtime = None

    def _stop_control_plane(self) -> None:
        if self.plane is not None:
            self.plane.keep = True
            self.plane.stop()
            self.plane = None

    def _undo(self) -> None:
        self.changes.undo()
        self._undone = True

    def _remove_folder(self) -> None:
        # Only once everything under it is unmounted: rmtree would walk into a mount.
        if self._undone and not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- start-up ---------------------------------------------------------------------

    def _start(self, deadline: float, volume_count: int) -> None:
        self.changes.apply()
        node_dir = self.changes.node_dir
        self.plane = ControlPlane.start(
            self.bin_dir, address=host.NODE_IP, root=self.root, keep=self.keep, timeout_s=deadline - time.monotonic()
        )
        pki = self.plane.pki
        assert pki is not None

        objects = addons.rbac() + local_volumes.storage(node_dir / "volumes", volume_count)
        self.kubectl("apply", "-f", "-", stdin=json.dumps(addons.as_list(objects)))

        self.runtime = Containerd.start(node_dir / "containerd", self.processes, deadline)
        self.runtime.load_images([pause_archive(node_dir / "pause")])

        ports = ("kubelet", "proxy", "proxy-metrics", "scheduler", "dns-health", "dns-ready")
        self._ports = {name: free_port() for name in ports}
        self._start_kubelet(pki, node_dir, self.runtime.socket)
        self._start_scheduler(pki, node_dir)
        self._start_kube_proxy(pki, node_dir)
        self._start_coredns(pki, node_dir)

        admin = KeyPair(pki.folder / "admin.crt", pki.folder / "admin.key")
        scheduler = f"https://127.0.0.1:{self._ports['scheduler']}/healthz"
        self.plane.wait_healthy(scheduler, admin, deadline, "kube-scheduler", self.processes)
        self._wait_http(f"http://127.0.0.1:{self._ports['kubelet']}/healthz", deadline, "kubelet")
        self._wait_http(f"http://127.0.0.1:{self._ports['proxy']}/healthz", deadline, "kube-proxy")
        self._wait_http(f"http://127.0.0.1:{self._ports['dns-ready']}/ready", deadline, "CoreDNS")
        self._wait_for(deadline, "node Ready", self._node_ready)
        if self.network_policy:
            # It finds its Node at start: only now can it run. No pod of a user's runs before its first sync.
            self._start_kube_router(pki, node_dir)
            self._wait_for(deadline, "kube-router's first sync of NetworkPolicy", netpol.synced)
        self._wait_for(deadline, "the default ServiceAccount", self._default_service_account)
        self._recycler = local_volumes.Recycler(self.kubectl, node_dir / "volumes")
        self._recycler.start()

    def _start_kubelet(self, pki: Pki, node_dir: Path, runtime_socket: Path) -> None:
        serving = pki.issue("kubelet-serving", addons.NODE_NAME, hosts=(host.NODE_IP, addons.NODE_NAME), server=True)
        client = pki.issue("kubelet", f"system:node:{addons.NODE_NAME}", organization="system:nodes", client=True)
        config = node_dir / "kubelet.json"
        port = self._ports["kubelet"]
        settings = components.kubelet_config(
            node_dir, ca=pki.ca.cert, serving=serving, runtime_socket=runtime_socket, healthz_port=port
        )
        config.write_text(json.dumps(settings, indent=2))
        args = components.kubelet_args(node_dir, config, self.control_plane.write_kubeconfig("kubelet", client))
        self.processes.spawn("kubelet", self.bin_dir / "kubelet", *args, cwd=node_dir, env=_without_iptables(node_dir))

    def _start_scheduler(self, pki: Pki, node_dir: Path) -> None:
        client = pki.issue("scheduler", "system:kube-scheduler", client=True)
        serving = pki.issue("scheduler-serving", "kube-scheduler", hosts=("127.0.0.1",), server=True)
        kubeconfig = self.control_plane.write_kubeconfig("scheduler", client)
        port = self._ports["scheduler"]
        args = components.scheduler_args(kubeconfig, serving, pki.ca.cert, port, node_dir / "scheduler")
        self.processes.spawn("kube-scheduler", self.bin_dir / "kube-scheduler", *args, cwd=node_dir)

    def _start_kube_proxy(self, pki: Pki, node_dir: Path) -> None:
        client = pki.issue("kube-proxy", "system:kube-proxy", client=True)
        kubeconfig = self.control_plane.write_kubeconfig("kube-proxy", client)
        config = node_dir / "kube-proxy.json"
        settings = components.kube_proxy_config(kubeconfig, self._ports["proxy"], self._ports["proxy-metrics"])
        config.write_text(json.dumps(settings, indent=2))
        self.processes.spawn(
            "kube-proxy",
            self.bin_dir / "kube-proxy",
            f"--config={config}",
            cwd=node_dir,
            env=_without_iptables(node_dir),
        )

    def _start_coredns(self, pki: Pki, node_dir: Path) -> None:
        client = pki.issue("coredns", addons.COREDNS_USER, client=True)
        kubeconfig = self.control_plane.write_kubeconfig("coredns", client)
        corefile = node_dir / "Corefile"
        corefile.write_text(components.corefile(kubeconfig, self._ports["dns-health"], self._ports["dns-ready"]))
        self.processes.spawn("coredns", self.bin_dir / "coredns", "-conf", str(corefile), cwd=node_dir)

    def _start_kube_router(self, pki: Pki, node_dir: Path) -> None:
        client = pki.issue("kube-router", addons.KUBE_ROUTER_USER, client=True)
        # In the node's folder, so the kubeconfig in its command line names the folder that
        # host.py's undo looks for when it kills what a crashed run left.
        kubeconfig = node_dir / "kube-router.kubeconfig"
        shutil.move(self.control_plane.write_kubeconfig("kube-router", client), kubeconfig)
        args = components.kube_router_args(kubeconfig, SERVICE_CLUSTER_IP_RANGE)
        env = netpol.environment(node_dir, addons.NODE_NAME)
        self.processes.spawn("kube-router", self.bin_dir / "kube-router", *args, cwd=node_dir, env=env)

    def _node_ready(self) -> bool:
        result = self.kubectl("get", "node", addons.NODE_NAME, "-o", "json", check=False)
        if result.returncode != 0:
            return False
        conditions = json.loads(result.stdout).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def _default_service_account(self) -> bool:
        return self.kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode == 0

    def _wait_for(self, deadline: float, what: str, ready: Callable[[], bool]) -> None:
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"waiting for {what}: a process exited\n{self.logs()}")
            if ready():
                return
            time.sleep(0.5)
        raise TimeoutError(f"no {what} in time\n{self.logs()}")

    def _wait_http(self, url: str, deadline: float, what: str) -> None:
        def answers() -> bool:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
                    return bool(response.status == 200)
            except (urllib.error.URLError, OSError):
                return False

        self._wait_for(deadline, what, answers)


def _without_iptables(node_dir: Path) -> dict[str, str]:
    """An environment whose PATH has no iptables but has nft.

    The kubelet and kube-proxy create iptables chains in the machine's shared `ip filter`,
    `nat` and `mangle` tables when they find the iptables command (the kubelet's canaries,
    kube-proxy's clean-up of its iptables mode); without it they skip that, and kube-proxy's
    nftables mode keeps everything in its own tables.
    """
    tools = node_dir / "path"
    tools.mkdir(parents=True, exist_ok=True)
    for name in ("nft", "mount", "umount"):
        found = shutil.which(name)
        link = tools / name
        if found and not link.exists():
            link.symlink_to(found)
    return {"PATH": str(tools), "HOME": str(node_dir)}


def _up(args: argparse.Namespace) -> int:
    return run_in_foreground(
        lambda: Cluster.start(keep=args.keep, network_policy=args.network_policy),
        lambda cluster, took_s: (
            f"cluster with a node ready in {took_s:.1f}s at {cluster.control_plane.server}; "
            f"kubectl and helm are in {cluster.bin_dir}"
        ),
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: `up` runs a cluster with a node in the foreground."""
    parser = argparse.ArgumentParser(prog="python -m tools.kube.node", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start a cluster with a node, print KUBECONFIG=..., stop on Ctrl-C")
    up.add_argument("--keep", action="store_true", help="keep the cluster's folder (logs, certificates) after stopping")
    up.add_argument(
        "--no-network-policy",
        dest="network_policy",
        action="store_false",
        help="run no NetworkPolicy enforcer (kube-router): policies are stored and ignored",
    )
    return _up(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
