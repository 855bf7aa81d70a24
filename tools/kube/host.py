"""What a node changes on the machine, and how each change is undone.

One node runs on the machine at a time: `NodeLock` holds a flock under /run. Before
the first change, the cluster's folder and the values it is about to overwrite go into
a state file beside the lock; `undo` reads it back and removes every change, whether
the run stopped cleanly or crashed (the next run finds the state file and cleans first).
Every step of `undo` is idempotent and tolerates what is already gone.

The changes: the bridge `jobq0` (node IP and pods' gateway), an nftables table of our
own that rejects anything pods send off the bridge, files bind-mounted over three
/proc/sys entries the kubelet insists on, ip_forward, a cgroup folder per controller
for the pods, the mounts and processes of containerd's pods, and the NetworkPolicy
enforcer's iptables chains and ipsets (netpol.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO

from tools.kube import netpol

STATE_DIR = Path("/run/jobq-node")
LOCK_FILE = STATE_DIR / "lock"
STATE_FILE = STATE_DIR / "state.json"

BRIDGE = "jobq0"
NODE_IP = "10.244.0.1"
POD_CIDR = "10.244.0.0/24"
POD_PREFIX = 24
# The kubelet's pods live under this cgroup in every v1 hierarchy (its cgroupRoot).
CGROUP_ROOT = "jobq-node"
CGROUP_FS = Path("/sys/fs/cgroup")
# nftables tables that are ours alone: the guard below, and kube-proxy's (nftables mode).
GUARD_TABLE = ("inet", "jobq-guard")
OWN_TABLES = (GUARD_TABLE, ("ip", "kube-proxy"), ("ip6", "kube-proxy"))
# The CNI network's name: host-local keeps leases and libcni its cache by this name.
CNI_NETWORK = "jobq-pods"
# libcni's cache entries of ours: our network's, and the loopback network containerd's CRI adds.
CNI_CACHE_ENTRIES = (f"{CNI_NETWORK}-*", "cni-loopback-*")
CNI_CACHE = Path("/var/lib/cni")

# What the kubelet's container manager insists on (setupKernelTunables); writing them
# is refused in this VM, so files holding these values are bind-mounted over them.
KERNEL_TUNABLES = {"vm/overcommit_memory": "1", "kernel/panic": "10", "kernel/panic_on_oops": "1"}
# Routing between pods and to Services needs forwarding; bridged replies must pass
# conntrack for kube-proxy's DNAT to be undone (br_netfilter).
FORWARDING = {"net/ipv4/ip_forward": "1", "net/bridge/bridge-nf-call-iptables": "1"}
PROC_SYS = Path("/proc/sys")

# The guard: base chains on the forward and output paths at a priority before
# everything else. Packets from the pods' bridge may only go back to the bridge (other
# pods, after kube-proxy's DNAT) or to the node itself (input, not forwarded); anything
# else is rejected at once, so a pod's connection fails fast and nothing leaves the machine.
GUARD_RULES = f"""
table {GUARD_TABLE[0]} {GUARD_TABLE[1]} {{
    chain forward {{
        type filter hook forward priority -200; policy accept;
        iifname "{BRIDGE}" oifname != "{BRIDGE}" counter reject with icmpx type admin-prohibited
        ip saddr {POD_CIDR} oifname != "{BRIDGE}" counter reject with icmpx type admin-prohibited
    }}
}}
"""

# Bounded loops: how long undo keeps killing processes that may still fork.
KILL_ROUNDS = 50


class NodeBusyError(RuntimeError):
    """Another node cluster runs on this machine (tools/kube/host.py's lock)."""


@dataclass
class NodeLock:
    """The machine-wide lock: one node cluster at a time."""

    file: IO[str] | None = None

    def acquire(self, timeout_s: float, on_wait: Callable[[str], object] | None = None) -> None:
        """Take the lock, waiting up to `timeout_s` for a running cluster to stop."""
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        self.file = LOCK_FILE.open("a+")
        deadline = time.monotonic() + timeout_s
        told = False
        while True:
            try:
                fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    holder = self._holder()
                    self.release()
                    raise NodeBusyError(
                        f"another node cluster (pid {holder}) holds {LOCK_FILE}; stop it or wait"
                    ) from None
                if not told and on_wait is not None:
                    on_wait(f"waiting for the node cluster of pid {self._holder()} to stop")
                    told = True
                time.sleep(1)
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"{os.getpid()}\n")
        self.file.flush()

    def _holder(self) -> str:
        with contextlib.suppress(OSError):
            return LOCK_FILE.read_text().strip() or "unknown"
        return "unknown"

    def release(self) -> None:
        """Let the next cluster start."""
        if self.file is not None:
            self.file.close()
            self.file = None


@dataclass
class HostChanges:
    """The changes one node makes, recorded in STATE_FILE before each is made."""

    root: Path
    saved_sysctls: dict[str, str] = field(default_factory=dict)
    cni_cache_existed: bool = True
    # None until read off the machine (and in a state file of a node without an enforcer):
    # then nothing of the enforcer's kind is removed.
    netpol_before: netpol.Before | None = None

    def _save(self) -> None:
        state = {
            "root": str(self.root),
            "saved_sysctls": self.saved_sysctls,
            "cni_cache_existed": self.cni_cache_existed,
        }
        if self.netpol_before is not None:
            state["filter_table_existed"] = self.netpol_before.filter_table_existed
            state["ipsets_before"] = sorted(self.netpol_before.ipsets)
        STATE_FILE.write_text(json.dumps(state) + "\n")

    @classmethod
    def leftover(cls) -> HostChanges | None:
        """The changes of an earlier run that did not undo them, if any."""
        try:
            state = json.loads(STATE_FILE.read_text())
        except FileNotFoundError:
            return None
        before = None
        if "filter_table_existed" in state:
            before = netpol.Before(state["filter_table_existed"], frozenset(state["ipsets_before"]))
        return cls(Path(state["root"]), state["saved_sysctls"], state["cni_cache_existed"], before)

    def apply(self) -> None:
        """Make the machine ready for the node: guard first, then bridge, sysctls and cgroups."""
        if not all((CGROUP_FS / controller).is_dir() for controller in ("cpu", "memory", "pids")):
            # The kubelet runs with the cgroupfs driver on v1 hierarchies (the layout of this
            # machine kind); on a v2-only layout the folders below would land in the wrong place.
            raise RuntimeError(f"the node needs cgroup v1 hierarchies (cpu, memory, pids) under {CGROUP_FS}")
        self.cni_cache_existed = CNI_CACHE.exists()
        found = netpol.present()
        if found:
            raise RuntimeError(
                f"kube-router's chains or ipsets are on this machine already ({', '.join(found[:4])}): another"
                " NetworkPolicy controller (k3s's, kube-router's) runs here, and the node would remove them as its own"
            )
        self.netpol_before = netpol.Before.now()
        self._save()
        # The guard goes in before anything can forward: ip_forward comes after it.
        _nft("-f", "-", stdin=GUARD_RULES)
        _ip("link", "add", BRIDGE, "type", "bridge")
        _ip("addr", "add", f"{NODE_IP}/{POD_PREFIX}", "dev", BRIDGE)
        _ip("link", "set", BRIDGE, "up")

        tunables = self.node_dir / "sysctl"
        tunables.mkdir(parents=True, exist_ok=True)
        for key, value in KERNEL_TUNABLES.items():
            source = tunables / key.replace("/", ".")
            source.write_text(value + "\n")
            _run("mount", "--bind", str(source), str(PROC_SYS / key))

        for key, value in FORWARDING.items():
            current = (PROC_SYS / key).read_text().strip()
            if current != value:
                self.saved_sysctls.setdefault(key, current)
                self._save()
                (PROC_SYS / key).write_text(value + "\n")

        for hierarchy in _cgroup_hierarchies():
            folder = hierarchy / CGROUP_ROOT
            folder.mkdir(exist_ok=True)
            if (hierarchy / "cpuset.cpus").exists():
                # A v1 cpuset starts empty and takes no task until given CPUs and memory nodes.
                for name in ("cpuset.cpus", "cpuset.mems"):
                    (folder / name).write_text((hierarchy / name).read_text())

    @property
    def node_dir(self) -> Path:
        """The node's part of the cluster's folder: containerd, kubelet, CNI, volumes."""
        return self.root / "node"

    def undo(self) -> None:
        """Remove every change this run (or a crashed one with the same state) made.

        Forwarding is switched back off first, so no moment has forwarding on and the guard
        gone; every step runs even when an earlier one failed, and the failures are raised
        together at the end (the state file stays then, for the next start to finish the job).
        """
        failures: list[str] = []

        def step(what: str, action: Callable[[], object]) -> None:
            try:
                action()
            except Exception as exc:
                failures.append(f"{what}: {exc}")

        for key, value in list(self.saved_sysctls.items()):
            step(f"restore {key}", partial((PROC_SYS / key).write_text, value + "\n"))
        step("kill leftover processes", lambda: _kill_processes(self.node_dir))
        step("unmount", lambda: _unmount_under(self.node_dir))
        for key in KERNEL_TUNABLES:
            step(f"unmount {key}", partial(_unmount_tunable, PROC_SYS / key, self.node_dir))
        # Interfaces of pods whose namespaces are gone by now; the bridge takes its address along.
        for veth in _bridge_ports():
            step(f"delete {veth}", partial(_ip, "link", "del", veth, check=False))
        if _link_exists(BRIDGE):
            step(f"delete {BRIDGE}", lambda: _ip("link", "del", BRIDGE))
        # kube-router is gone by now (killed above at the latest): its chains and sets go.
        if self.netpol_before is not None:
            before = self.netpol_before
            step("remove the NetworkPolicy enforcer's chains and ipsets", lambda: netpol.remove(before))
        # The guard last: nothing is left that it guarded.
        for table in OWN_TABLES:
            if _nft_ok("list", "table", *table):
                step(f"delete table {table}", partial(_nft, "delete", "table", *table))
        step("remove cgroups", _remove_cgroups)
        step("remove CNI state", lambda: _remove_cni_state(self.cni_cache_existed))
        if failures:
            raise RuntimeError("undoing the node's changes to the machine failed: " + "; ".join(failures))
        self.saved_sysctls.clear()
        shutil.rmtree(self.node_dir, ignore_errors=True)
        STATE_FILE.unlink(missing_ok=True)


def _run(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), input=stdin, capture_output=True, text=True, check=False, timeout=60)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.strip()}")
    return result


def _ip(*args: str, check: bool = True) -> None:
    _run("ip", *args, check=check)


def _nft(*args: str, stdin: str | None = None) -> None:
    _run("nft", *args, stdin=stdin)


def _nft_ok(*args: str) -> bool:
    return _run("nft", *args, check=False).returncode == 0


def _link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def _bridge_ports() -> list[str]:
    ports = Path("/sys/class/net", BRIDGE, "brif")
    return sorted(p.name for p in ports.iterdir()) if ports.is_dir() else []


def _cgroup_hierarchies(*, unified: bool = False) -> list[Path]:
    """The cgroup v1 hierarchies the kubelet's cgroupfs driver needs, and with `unified`
    the v2 one that runc fills in too on this hybrid layout."""
    return sorted(
        p for p in CGROUP_FS.iterdir() if p.is_dir() and not p.is_symlink() and (unified or p.name != "unified")
    )


def _our_cgroups() -> list[Path]:
    """Every cgroup folder under our root, deepest first."""
    found: list[Path] = []
    for hierarchy in _cgroup_hierarchies(unified=True):
        top = hierarchy / CGROUP_ROOT
        if top.is_dir():
            found.extend(p for p in top.rglob("*") if p.is_dir())
            found.append(top)
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def _pids_in_cgroups() -> set[int]:
    pids: set[int] = set()
    for folder in _our_cgroups():
        with contextlib.suppress(OSError):
            pids.update(int(line) for line in (folder / "cgroup.procs").read_text().split())
    return pids


def _pids_using(node_dir: Path) -> set[int]:
    """Processes started for the node that outlive their parent: containerd's shims
    (daemonized, so the parent-death signal does not reach them) name its socket in node_dir."""
    marker = str(node_dir).encode()
    pids = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if marker in (proc / "cmdline").read_bytes():
                pids.add(int(proc.name))
    return pids


def _kill_processes(node_dir: Path) -> None:
    """SIGKILL, each by its PID, every pod process and every process naming the node's folder."""
    for _ in range(KILL_ROUNDS):
        pids = _pids_in_cgroups() | _pids_using(node_dir)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    raise RuntimeError(f"processes of the node still run after {KILL_ROUNDS} rounds of SIGKILL: {sorted(pids)}")


def _mount_points() -> list[tuple[str, str]]:
    """(root within its filesystem, mount point) of every mount, in mount order."""
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        mounts.append((_unescape(fields[3]), _unescape(fields[4])))
    return mounts


def _unescape(path: str) -> str:
    return path.encode().decode("unicode_escape")


def _unmount_under(root: Path) -> None:
    """Detach every mount at or below `root` (kubelet volumes, container rootfs, netns), deepest first."""
    prefix = str(root).rstrip("/") + "/"
    for _ in range(KILL_ROUNDS):
        points = [p for _, p in _mount_points() if p == str(root) or p.startswith(prefix)]
        if not points:
            return
        for point in sorted(set(points), key=len, reverse=True):
            _run("umount", "--lazy", point, check=False)
    raise RuntimeError(f"mounts under {root} remain: {points}")


def _unmount_tunable(point: Path, node_dir: Path) -> None:
    """Remove our file bind-mounted over a /proc/sys entry (only ours: its source is in node_dir)."""
    # The mount's source is named relative to its filesystem's root, so match its tail.
    tail = f"{node_dir.parent.name}/{node_dir.name}/sysctl/"
    for _ in range(KILL_ROUNDS):
        ours = [source for source, target in _mount_points() if target == str(point) and tail in source]
        if not ours:
            return
        _run("umount", str(point), check=False)
    raise RuntimeError(f"{point} stays mounted")


def _remove_cgroups() -> None:
    for folder in _our_cgroups():
        with contextlib.suppress(FileNotFoundError):
            folder.rmdir()


def _remove_cni_state(cache_existed: bool) -> None:
    """libcni caches each attachment under /var/lib/cni by network name; drop ours, and the folder if we made it."""
    results = CNI_CACHE / "results"
    if results.is_dir():
        for pattern in CNI_CACHE_ENTRIES:
            for entry in results.glob(pattern):
                entry.unlink(missing_ok=True)
    if not cache_existed and CNI_CACHE.is_dir():
        # Only empty folders: anything else there belongs to someone else.
        for folder in sorted((p for p in CNI_CACHE.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()
        with contextlib.suppress(OSError):
            CNI_CACHE.rmdir()
