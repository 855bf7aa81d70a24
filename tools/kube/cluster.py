"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager.

    python -m tools.kube.cluster up   # build or find the binaries, start, print KUBECONFIG=...; Ctrl-C stops

From Python:

    with ControlPlane.start(build_binaries()) as cluster:
        subprocess.run(["kubectl", "get", "ns"], env=cluster.env())

Every process listens on a free 127.0.0.1 port and keeps its certificates, data and
logs in one temporary folder that `stop()` removes. Clients authenticate with
certificates from a CA made for this cluster; the API server authorizes with Node and
RBAC and signs service-account tokens with a key pair of its own. There are no nodes:
Pods are created and scheduled nowhere, which is what testing against the API needs.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Self

from tools.kube.binaries import build_binaries
from tools.kube.pki import KeyPair, Pki

SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/24"
# The first address of the range: the `kubernetes` Service, which the serving cert names.
KUBERNETES_SERVICE_IP = "10.96.0.1"
ISSUER = "https://kubernetes.default.svc.cluster.local"
START_TIMEOUT_S = 120.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    # Runs in the child before exec: if the Python process dies without stop(), the
    # kernel kills the child, so no orphaned API server keeps a quarter gigabyte.
    # SIGKILL, not SIGTERM: an API server whose etcd is gone hangs in its graceful shutdown.
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


@dataclass
class ControlPlane:
    """A running etcd, kube-apiserver and kube-controller-manager; `stop()` ends them and removes `root`."""

    bin_dir: Path
    root: Path
    server: str = ""
    kubeconfig: Path = field(default_factory=Path)
    ca: KeyPair | None = None
    keep: bool = False
    _processes: list[_Process] = field(default_factory=list)

    @classmethod
    def start(cls, bin_dir: Path, *, timeout_s: float = START_TIMEOUT_S, keep: bool = False) -> ControlPlane:
        """Start the three processes and return once the API server is ready and the controllers run.

        `keep` leaves the temporary folder behind on stop, for reading the logs.
        """
        plane = cls(bin_dir=bin_dir, root=Path(tempfile.mkdtemp(prefix="jobq-kube-")), keep=keep)
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
        return bool(self._processes) and all(p.popen.poll() is None for p in self._processes)

    def logs(self, lines: int = 30) -> str:
        """The end of every process's log, for failure messages."""
        return "\n".join(f"--- {p.name} (exit {p.popen.poll()})\n{p.log_tail(lines)}" for p in self._processes)

    def stop(self) -> None:
        """SIGTERM the processes in reverse start order (SIGKILL after 15 s), then remove the folder."""
        for process in reversed(self._processes):
            if process.popen.poll() is None:
                process.popen.terminate()
                try:
                    process.popen.wait(15)
                except subprocess.TimeoutExpired:
                    process.popen.kill()
                    process.popen.wait()
            process.log_file.close()
        self._processes.clear()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- start-up ---------------------------------------------------------------------

    def _start(self, deadline: float) -> None:
        pki = Pki(self.root / "pki")
        self.ca = pki.ca
        loopback = ("127.0.0.1", "localhost")
        etcd_serving = pki.issue("etcd", "etcd", hosts=loopback, server=True)
        etcd_client = pki.issue("apiserver-etcd-client", "kube-apiserver-etcd-client", client=True)
        api_serving = pki.issue(
            "apiserver",
            "kube-apiserver",
            hosts=(
                *loopback,
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

        etcd_port, etcd_peer_port, api_port, cm_port = (free_port() for _ in range(4))
        self.server = f"https://127.0.0.1:{api_port}"
        self.kubeconfig = self._write_kubeconfig("admin", admin)
        cm_kubeconfig = self._write_kubeconfig("controller-manager", cm_client)

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
        self._wait(f"{etcd_url}/health", etcd_client, deadline, "etcd")

        self._spawn(
            "kube-apiserver",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            # The endpoint reconciler refuses a loopback address; with no Pods running
            # there is nobody to reach the `kubernetes` Service's endpoints anyway.
            "--endpoint-reconciler-type=none",
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
        self._wait(f"{self.server}/readyz", admin, deadline, "kube-apiserver")

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
        self._wait(f"https://127.0.0.1:{cm_port}/healthz", admin, deadline, "kube-controller-manager")

    def _write_kubeconfig(self, user: str, credentials: KeyPair) -> Path:
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
        log_path = self.root / "logs" / f"{name}.log"
        log_path.parent.mkdir(exist_ok=True)
        log_file = log_path.open("wb")
        try:
            popen = subprocess.Popen(
                [str(self.bin_dir / name), *args],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                # Its own session, so a terminal's Ctrl-C reaches only us and stop() ends
                # the processes in order.
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        except BaseException:
            log_file.close()
            raise
        self._processes.append(_Process(name, popen, log_path, log_file))

    def _wait(self, url: str, credentials: KeyPair, deadline: float, what: str) -> None:
        """Poll an HTTPS health endpoint until it answers 200, failing early if a process exits."""
        assert self.ca is not None
        context = ssl.create_default_context(cafile=str(self.ca.cert))
        context.load_cert_chain(str(credentials.cert), str(credentials.key))
        last = "no answer yet"
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{what} did not start: a process exited\n{self.logs()}")
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
        raise TimeoutError(f"{what} not ready at {url}: {last}\n{self.logs()}")


def _up(args: argparse.Namespace) -> int:
    bin_dir = build_binaries()
    started = time.monotonic()
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {
        sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        with ControlPlane.start(bin_dir, keep=args.keep) as cluster:
            print(
                f"# control plane ready in {time.monotonic() - started:.1f}s at {cluster.server}; "
                f"kubectl and helm are in {bin_dir}; Ctrl-C stops",
                file=sys.stderr,
            )
            print(f"KUBECONFIG={cluster.kubeconfig}", flush=True)
            while not stopping.wait(1.0):
                if not cluster.alive():
                    print(f"a control-plane process exited:\n{cluster.logs()}", file=sys.stderr)
                    return 1
            print("# stopping", file=sys.stderr)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


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
