"""Fixtures for tests against a cluster with a real node (tools/kube/node.py).

Needs root (the node makes a bridge, firewall table and mounts). The binaries, the
node's included, are built from Go modules on first use and found in the cache
afterwards; the build runs right after collection, outside the per-test timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tools.kube import host, netpol
from tools.kube.binaries import build_binaries
from tools.kube.images import busybox_archive
from tools.kube.node import Cluster

HERE = Path(__file__).resolve().parent
BINARIES = pytest.StashKey[Path | Exception]()
BUSYBOX_IMAGE = "jobq.invalid/busybox:1"


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build or find the control plane's and the node's binaries before the first test here runs."""
    selected = any(HERE in Path(item.path).resolve().parents for item in session.items)
    if session.config.option.collectonly or not selected:
        return
    fd, name = tempfile.mkstemp(prefix="jobq-kube-build-", suffix=".log")
    os.close(fd)
    log = Path(name)
    try:
        session.config.stash[BINARIES] = build_binaries(log=log, groups=("all",))
        log.unlink()
    except Exception as exc:
        session.config.stash[BINARIES] = exc


def _read_or(path: str, default: str) -> str:
    file = Path(path)
    return file.read_text().strip() if file.exists() else default


@dataclass
class MachineState:
    """What a node changes on the machine, as seen from outside."""

    links: frozenset[str]
    nft_tables: frozenset[str]
    # "family table chain" of every nftables chain: iptables-nft's chains are nftables chains.
    nft_chains: frozenset[str]
    ipsets: frozenset[str]
    proc_sys_mounts: frozenset[str]
    ip_forward: str
    bridge_nf_call_iptables: str
    cgroups: frozenset[str]
    cni_cache_entries: frozenset[str]

    @classmethod
    def now(cls) -> MachineState:
        """Read it off the machine."""
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True).stdout
        listed = subprocess.run(["nft", "--json", "list", "chains"], capture_output=True, text=True, check=True)
        chains = [item["chain"] for item in json.loads(listed.stdout)["nftables"] if "chain" in item]
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
        return cls(
            links=frozenset(p.name for p in Path("/sys/class/net").iterdir()),
            nft_tables=frozenset(line.strip() for line in tables.splitlines() if line.strip()),
            nft_chains=frozenset(f"{c['family']} {c['table']} {c['name']}" for c in chains),
            ipsets=frozenset(netpol.ipset_names()),
            proc_sys_mounts=frozenset(m.split()[4] for m in mounts if m.split()[4].startswith("/proc/sys/")),
            ip_forward=Path("/proc/sys/net/ipv4/ip_forward").read_text().strip(),
            # Absent until br_netfilter loads (the node loads it); "absent" compares fine.
            bridge_nf_call_iptables=_read_or("/proc/sys/net/bridge/bridge-nf-call-iptables", "absent"),
            cgroups=frozenset(str(p) for p in Path("/sys/fs/cgroup").glob(f"*/{host.CGROUP_ROOT}")),
            cni_cache_entries=frozenset(str(p) for p in host.CNI_CACHE.rglob("*")),
        )


@dataclass
class NodeCluster:
    """The session's cluster and the machine's state from before it started."""

    cluster: Cluster
    before: MachineState
    busybox: str

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True, timeout_s: float = 120) -> str:
        """Run kubectl as admin and return its output."""
        return self.cluster.kubectl(*args, stdin=stdin, check=check, timeout_s=timeout_s).stdout

    def apply(self, namespace: str, *objects: dict[str, object]) -> None:
        """Create or update objects in `namespace`."""
        body = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)})
        self.kubectl("apply", "-n", namespace, "-f", "-", stdin=body)

    def wait_for(self, what: str, ready: object, timeout_s: float = 90) -> None:
        """Poll `ready()` until it is true, failing with the node's logs after `timeout_s`."""
        assert callable(ready)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.5)
        pytest.fail(f"no {what} within {timeout_s}s\n{self.cluster.logs(15)}")

    def pod(self, namespace: str, name: str) -> dict[str, object]:
        """The pod as the API has it."""
        result: dict[str, object] = json.loads(self.kubectl("get", "pod", name, "-n", namespace, "-o", "json"))
        return result

    def wait_phase(self, namespace: str, name: str, *phases: str, timeout_s: float = 90) -> None:
        """Wait until the pod is in one of `phases` (Running means: all containers ready)."""

        def reached() -> bool:
            status = self.pod(namespace, name).get("status", {})
            assert isinstance(status, dict)
            phase = status.get("phase")
            if phase == "Running" and "Running" in phases:
                return all(c.get("ready") for c in status.get("containerStatuses", []))
            return phase in phases

        self.wait_for(f"pod {namespace}/{name} in {phases}", reached, timeout_s)


# A module's cluster waits this long for another's (one node per machine): make test
# gives this folder's files to one pytest process (tests/support/xdist_scopes.py), but a
# second test run on the machine (a helper's, the mutation check's) may hold the node, and
# a module of e2e tests lasts minutes.
LOCK_WAIT_S = 1800.0


@pytest.fixture(scope="module")
def node_cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeCluster]:
    """The control plane plus one node, started once per test module, with the busybox image loaded.

    Per module, not per session: under pytest-xdist two modules of this folder may run in
    two processes, and the second waits for the first's cluster to stop, not for the
    first process's whole session to end.
    """
    if os.geteuid() != 0:
        pytest.skip("a node needs root: it makes a bridge, an nftables table and mounts")
    binaries = request.config.stash.get(BINARIES, None)
    if binaries is None:
        binaries = build_binaries(groups=("all",))
    if isinstance(binaries, Exception):
        raise binaries
    # Read once the lock is ours: another module's cluster may be up until then.
    before: list[MachineState] = []
    started = time.monotonic()
    with Cluster.start(
        binaries, lock_timeout_s=LOCK_WAIT_S, on_locked=lambda: before.append(MachineState.now())
    ) as cluster:
        print(f"cluster with a node ready in {time.monotonic() - started:.1f}s")
        archive = busybox_archive(tmp_path_factory.mktemp("images") / "busybox.oci.tar", BUSYBOX_IMAGE)
        (name,) = cluster.load_images([archive])
        yield NodeCluster(cluster, before[0], name)


@pytest.fixture
def namespace(node_cluster: NodeCluster) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards."""
    name = f"jobq-node-{uuid.uuid4().hex[:8]}"
    node_cluster.kubectl("create", "namespace", name)
    yield name
    if node_cluster.cluster.plane is not None:
        node_cluster.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="module")
def images(node_cluster: NodeCluster) -> dict[str, str]:
    """The five images built here (tools/images; a no-op when cached), loaded into the node:
    image name → the name pods use."""
    from tools.images.build import build_images

    archives = build_images()
    names = node_cluster.cluster.load_images(list(archives.values()))
    return dict(zip(archives, names, strict=True))
