"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager.

    python -m tools.kube.cluster up   # build or find the binaries, start, print KUBECONFIG=...; Ctrl-C stops

From Python:

    with ControlPlane.start(build_binaries()) as cluster:
        subprocess.run(["kubectl", "get", "ns"], env=cluster.env())

Every process listens on a free 127.0.0.1 port and keeps its certificates, data and
logs in one temporary folder that `stop()` removes. Clients authenticate with
certificates from a CA made for this cluster; the API server authorizes with Node and
RBAC and signs service-account tokens with a key pair of its own. There are no nodes:
Pods are created and scheduled nowhere, which is what testing against the API needs
(tools/kube/node.py adds a node, and starts the API server on the node's bridge address).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Protocol, Self, TypeVar

from tools.kube.binaries import build_binaries
from tools.kube.pki import KeyPair, Pki
from tools.kube.processes import Processes

SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/24"
# The first address of the range: the `kubernetes` Service, which the serving cert names.
KUBERNETES_SERVICE_IP = "10.96.0.1"
ISSUER = "https://kubernetes.default.svc.cluster.local"
START_TIMEOUT_S = 120.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class ControlPlane:
    """A running etcd, kube-apiserver and kube-controller-manager; `stop()` ends them and removes `root`."""

    bin_dir: Path
    root: Path
    address: str = "127.0.0.1"
    server: str = ""
    kubeconfig: Path = field(default_factory=Path)
    ca: KeyPair | None = None
    pki: Pki | None = None
    keep: bool = False
    _processes: Processes = field(init=False)

    def __post_init__(self) -> None:
        self._processes = Processes(self.root / "logs")

    @classmethod
    def start(
        cls,
        bin_dir: Path,
        *,
        timeout_s: float = START_TIMEOUT_S,
        keep: bool = False,
        address: str = "127.0.0.1",
        root: Path | None = None,
    ) -> ControlPlane:
        """Start the three processes and return once the API server is ready and the controllers run.

        `keep` leaves the temporary folder behind on stop, for reading the logs.
        `address` is where the API server listens and what it advertises: loopback for
        API-only tests, an address pods can reach when a node runs. `root` is the
        cluster's folder (made if missing, removed on stop); a fresh temporary one by default.
        """
        if root is None:
            root = Path(tempfile.mkdtemp(prefix="jobq-kube-"))
        root.mkdir(parents=True, exist_ok=True)
        plane = cls(bin_dir=bin_dir, root=root, address=address, keep=keep)
        try:
            plane._start(time.monotonic() + timeout_s)
        except BaseException:
            plane.stop()
            raise
        return plane

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """This process's environment pointed at the cluster: KUBECONFIG, the binaries first on PATH,
        and helm's folders inside the cluster's own (so helm writes nothing to the home folder)."""
        helm = self.root / "helm"
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "HELM_CACHE_HOME": str(helm / "cache"),
            "HELM_CONFIG_HOME": str(helm / "config"),
            "HELM_DATA_HOME": str(helm / "data"),
        }

    def alive(self) -> bool:
        """Whether every process still runs."""
        return self._processes.alive()

    def logs(self, lines: int = 30) -> str:
        """The end of every process's log, for failure messages."""
        return self._processes.logs(lines)

    def stop(self) -> None:
        """SIGTERM the processes in reverse start order (SIGKILL after 15 s), then remove the folder."""
        self._processes.stop()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- start-up ---------------------------------------------------------------------

    def _start(self, deadline: float) -> None:
        pki = Pki(self.root / "pki")
        self.pki = pki
        self.ca = pki.ca
        loopback = ("127.0.0.1", "localhost")
        on_loopback = ipaddress.ip_address(self.address).is_loopback
        etcd_serving = pki.issue("etcd", "etcd", hosts=loopback, server=True)
        etcd_client = pki.issue("apiserver-etcd-client", "kube-apiserver-etcd-client", client=True)
        api_serving = pki.issue(
            "apiserver",
            "kube-apiserver",
            hosts=(
                *loopback,
                *(() if on_loopback else (self.address,)),
                KUBERNETES_SERVICE_IP,
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            server=True,
        )
        kubelet_client = pki.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", client=True)
        cm_serving = pki.issue("controller-manager-serving", "kube-controller-manager", hosts=loopback, server=True)
        cm_client = pki.issue("controller-manager", "system:kube-controller-manager", client=True)
        admin = pki.issue("admin", "jobq-admin", organization="system:masters", client=True)
        # The aggregation layer's own CA, as in a kubeadm cluster: a certificate from it
        # lets the API server vouch for a user towards extension API servers.
        front_proxy = Pki(self.root / "pki" / "front-proxy", name="jobq-front-proxy-ca")
        proxy_client = front_proxy.issue("front-proxy-client", "front-proxy-client", client=True)
        service_accounts = pki.signing_key("service-account")

        etcd_port, etcd_peer_port, cm_port = (free_port() for _ in range(3))
        api_port = free_port(self.address)
        self.server = f"https://{self.address}:{api_port}"
        self.kubeconfig = self.write_kubeconfig("admin", admin)
        cm_kubeconfig = self.write_kubeconfig("controller-manager", cm_client)

        etcd_url = f"https://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{etcd_peer_port}"
        self._spawn(
            "etcd",
            "--name=jobq",
            f"--data-dir={self.root / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=jobq={peer_url}",
            f"--cert-file={etcd_serving.cert}",
            f"--key-file={etcd_serving.key}",
            f"--trusted-ca-file={pki.ca.cert}",
            "--client-cert-auth=true",
            # The data dies with the cluster: durability buys nothing but slow writes.
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        )
        self.wait_healthy(f"{etcd_url}/health", etcd_client, deadline, "etcd")

        if on_loopback:
            # The endpoint reconciler refuses a loopback address; with no Pods running
            # there is nobody to reach the `kubernetes` Service's endpoints anyway.
            node_flags = ["--endpoint-reconciler-type=none"]
        else:
            # Pods reach the API server through the `kubernetes` Service, whose endpoint
            # the reconciler keeps at this address. The kubelet serves on the node's
            # InternalIP only: its Hostname may resolve to loopback.
            node_flags = ["--kubelet-preferred-address-types=InternalIP"]
        self._spawn(
            "kube-apiserver",
            f"--bind-address={self.address}",
            f"--advertise-address={self.address}",
            *node_flags,
            f"--secure-port={api_port}",
            f"--cert-dir={self.root / 'apiserver'}",
            f"--tls-cert-file={api_serving.cert}",
            f"--tls-private-key-file={api_serving.key}",
            f"--client-ca-file={pki.ca.cert}",
            f"--etcd-servers={etcd_url}",
            f"--etcd-cafile={pki.ca.cert}",
            f"--etcd-certfile={etcd_client.cert}",
            f"--etcd-keyfile={etcd_client.key}",
            f"--kubelet-certificate-authority={pki.ca.cert}",
            f"--kubelet-client-certificate={kubelet_client.cert}",
            f"--kubelet-client-key={kubelet_client.key}",
            f"--requestheader-client-ca-file={front_proxy.ca.cert}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={proxy_client.cert}",
            f"--proxy-client-key-file={proxy_client.key}",
            "--authorization-mode=Node,RBAC",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            f"--service-account-issuer={ISSUER}",
            f"--service-account-key-file={service_accounts.cert}",
            f"--service-account-signing-key-file={service_accounts.key}",
            "--allow-privileged=true",
            "--profiling=false",
        )
        self.wait_healthy(f"{self.server}/readyz", admin, deadline, "kube-apiserver")

        self._spawn(
            "kube-controller-manager",
            f"--kubeconfig={cm_kubeconfig}",
            f"--authentication-kubeconfig={cm_kubeconfig}",
            f"--authorization-kubeconfig={cm_kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={cm_port}",
            f"--cert-dir={self.root / 'controller-manager'}",
            f"--tls-cert-file={cm_serving.cert}",
            f"--tls-private-key-file={cm_serving.key}",
            f"--client-ca-file={pki.ca.cert}",
            f"--root-ca-file={pki.ca.cert}",
            f"--service-account-private-key-file={service_accounts.key}",
            "--use-service-account-credentials=true",
            f"--cluster-signing-cert-file={pki.ca.cert}",
            f"--cluster-signing-key-file={pki.ca.key}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--leader-elect=false",
            "--profiling=false",
        )
        self.wait_healthy(f"https://127.0.0.1:{cm_port}/healthz", admin, deadline, "kube-controller-manager")

    def write_kubeconfig(self, user: str, credentials: KeyPair) -> Path:
        """A kubeconfig in the cluster's folder for `user`, authenticating with `credentials`."""
        assert self.ca is not None
        # JSON is YAML: kubectl, helm and client libraries read it as a kubeconfig.
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "jobq", "cluster": {"server": self.server, "certificate-authority": str(self.ca.cert)}}
            ],
            "users": [
                {
                    "name": user,
                    "user": {"client-certificate": str(credentials.cert), "client-key": str(credentials.key)},
                }
            ],
            "contexts": [{"name": "jobq", "context": {"cluster": "jobq", "user": user}}],
            "current-context": "jobq",
        }
        path = self.root / f"{user}.kubeconfig"
        path.write_text(json.dumps(config, indent=2) + "\n")
        path.chmod(0o600)
        return path

    def _spawn(self, name: str, *args: str) -> None:
        self._processes.spawn(name, self.bin_dir / name, *args, cwd=self.root)

    def wait_healthy(
        self, url: str, credentials: KeyPair, deadline: float, what: str, processes: Processes | None = None
    ) -> None:
        """Poll an HTTPS health endpoint until it answers 200, failing early if a process exits.

        `processes` are the ones to watch (the control plane's own by default).
        """
        processes = processes or self._processes
        assert self.ca is not None
        context = ssl.create_default_context(cafile=str(self.ca.cert))
        context.load_cert_chain(str(credentials.cert), str(credentials.key))
        last = "no answer yet"
        while time.monotonic() < deadline:
            if not processes.alive():
                raise RuntimeError(f"{what} did not start: a process exited\n{processes.logs()}")
            try:
                with urllib.request.urlopen(url, context=context, timeout=2) as response:  # noqa: S310 (https only)
                    if response.status == 200:
                        return
                    last = f"HTTP {response.status}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}: {exc.read()[-500:].decode(errors='replace')}"
                exc.close()
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.1)
        raise TimeoutError(f"{what} not ready at {url}: {last}\n{processes.logs()}")


R = TypeVar("R", bound="Running")


class Running(Protocol):
    """What runs in the foreground: a control plane, or a cluster with a node."""

    @property
    def kubeconfig(self) -> Path: ...

    def alive(self) -> bool: ...

    def logs(self, lines: int = 30) -> str: ...


def run_in_foreground(start: Callable[[], AbstractContextManager[R]], ready: Callable[[R, float], str]) -> int:
    """Start, print `ready(running, seconds)` and KUBECONFIG=..., then run until SIGINT or SIGTERM
    (0) or until one of its processes exits (1)."""
    started = time.monotonic()
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {
        sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        with start() as running:
            print(f"# {ready(running, time.monotonic() - started)}; Ctrl-C stops", file=sys.stderr)
            print(f"KUBECONFIG={running.kubeconfig}", flush=True)
            while not stopping.wait(1.0):
                if not running.alive():
                    print(f"a process exited:\n{running.logs()}", file=sys.stderr)
                    return 1
            print("# stopping", file=sys.stderr)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _up(args: argparse.Namespace) -> int:
    bin_dir = build_binaries()
    return run_in_foreground(
        lambda: ControlPlane.start(bin_dir, keep=args.keep),
        lambda plane, took_s: (
            f"control plane ready in {took_s:.1f}s at {plane.server}; kubectl and helm are in {bin_dir}"
        ),
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: `up` runs a control plane in the foreground."""
    parser = argparse.ArgumentParser(prog="python -m tools.kube.cluster", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start a control plane, print KUBECONFIG=..., stop on Ctrl-C")
    up.add_argument("--keep", action="store_true", help="keep the cluster's folder (logs, certificates) after stopping")
    args = parser.parse_args(argv)
    return _up(args)


if __name__ == "__main__":
    sys.exit(main())
