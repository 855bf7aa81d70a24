"""The node's NetworkPolicy enforcer, kube-router's network-policy controller, and what it leaves on the machine.

The bridge CNI enforces no NetworkPolicy. kube-router, run with its firewall only (no
routing, no service proxy: kube-proxy stays the proxy), turns each policy into iptables
chains in the `ip filter` table and ipsets of the peers' addresses, and sends every
packet to or from a local pod through them. Debian 12's iptables is the nft backend, so
those chains sit in nftables beside kube-proxy's tables and host.py's guard, which sees
pod traffic first (priority -200) and still rejects anything bound off the machine.

kube-router's chains and sets carry fixed prefixes; `remove` deletes exactly those (and
the `ip filter` table if the node made it), whether kube-router stopped or was killed. A
machine that has such chains or sets before the node starts (k3s's policy controller is
kube-router's) gets no node: they would be taken for the node's own.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# Debian 12's iptables package ships these: the nft backend, whatever `update-alternatives`
# says `iptables` is on this machine.
IPTABLES = "iptables-nft"
IPTABLES_TOOLS = {
    "iptables": IPTABLES,
    "iptables-save": "iptables-nft-save",
    "iptables-restore": "iptables-nft-restore",
}
IPSET = "ipset"
FILTER_TABLE = ("ip", "filter")
# kube-router's names (pkg/controllers/netpol and pkg/utils/ipset.go): its top-level chains
# KUBE-ROUTER-INPUT/FORWARD/OUTPUT, one KUBE-POD-FW-… per local pod, one KUBE-NWPLCY-… per
# policy (and KUBE-NWPLCY-DEFAULT); ipsets KUBE-SRC-…/KUBE-DST-…, TMP-… while it swaps them.
CHAIN_PREFIXES = ("KUBE-ROUTER-", "KUBE-POD-FW-", "KUBE-NWPLCY-")
IPSET_PREFIXES = ("KUBE-SRC-", "KUBE-DST-", "TMP-", "inet6:KUBE-SRC-", "inet6:KUBE-DST-", "inet6:TMP-")
# The rule kube-router appends to its FORWARD chain at the end of each full sync: once it
# is there, the first sync has been written to the kernel.
SYNCED_MARK = "rule to explicitly ACCEPT traffic that comply to network policies"
BUILTIN_CHAINS = ("INPUT", "FORWARD", "OUTPUT")


@dataclass(frozen=True)
class Before:
    """What of the enforcer's kind the machine had before the node started."""

    filter_table_existed: bool
    ipsets: frozenset[str]

    @classmethod
    def now(cls) -> Before:
        """Read it off the machine."""
        return cls(filter_table_exists(), frozenset(ipset_names()))


def environment(node_dir: Path, node_name: str) -> dict[str, str]:
    """kube-router's environment: a PATH holding only the nft-backed iptables tools and ipset.

    Named by the short names kube-router looks up, so its rules land where `remove` looks.
    """
    tools = node_dir / "netpol-path"
    tools.mkdir(parents=True, exist_ok=True)
    for name, target in {**IPTABLES_TOOLS, IPSET: IPSET}.items():
        found = shutil.which(target)
        if found is None:
            raise RuntimeError(f"{target} is missing: run tools/kube/packages.sh")
        link = tools / name
        if not link.exists():
            link.symlink_to(found)
    # NODE_NAME: kube-router finds its Node by it, before trying the machine's host name.
    return {"PATH": str(tools), "HOME": str(node_dir), "NODE_NAME": node_name}


def synced() -> bool:
    """Whether kube-router has written its first full sync (its chains and their closing rule)."""
    if not filter_table_exists():
        return False
    result = _run(IPTABLES, "-t", "filter", "-S", "KUBE-ROUTER-FORWARD", check=False)
    return result.returncode == 0 and SYNCED_MARK in result.stdout


def filter_table_exists() -> bool:
    """Whether nftables has the `ip filter` table (iptables-nft makes it on first use)."""
    return _run("nft", "list", "table", *FILTER_TABLE, check=False).returncode == 0


def ipset_names() -> list[str]:
    """The names of the machine's ipsets (none when the ipset tool is missing: nothing made any)."""
    if shutil.which(IPSET) is None:
        return []
    return _run(IPSET, "list", "-name").stdout.split()


def ours(chain: str) -> bool:
    """Whether an iptables chain is one of kube-router's."""
    return chain.startswith(CHAIN_PREFIXES)


def present() -> list[str]:
    """kube-router's chains and ipsets on the machine now (another controller's, or a killed
    node's before its leftovers are undone)."""
    chains = _chains(_filter_rules()) if filter_table_exists() else []
    return leftovers([*chains, *ipset_names()])


def remove(before: Before) -> None:
    """Delete kube-router's chains, the jumps into them and its ipsets; then the `ip filter`
    table if the node made it and nothing else is in it. Tolerates what is already gone."""
    if filter_table_exists():
        rules = _filter_rules()
        chains = [chain for chain in _chains(rules) if ours(chain)]
        # The jumps from the built-in chains first: a chain still jumped to cannot be deleted.
        for words in map(shlex.split, rules):
            if words[:1] == ["-A"] and not ours(words[1]) and _target(words) in chains:
                _run(IPTABLES, "-t", "filter", "-D", *words[1:])
        for chain in chains:
            _run(IPTABLES, "-t", "filter", "-F", chain)
        for chain in chains:
            _run(IPTABLES, "-t", "filter", "-X", chain)
        if not before.filter_table_existed and _empty_filter_table():
            _run("nft", "delete", "table", *FILTER_TABLE)
    # Sets are deleted once no rule refers to them.
    for name in ipset_names():
        if name.startswith(IPSET_PREFIXES) and name not in before.ipsets:
            _run(IPSET, "destroy", name)


def leftovers(names: Iterable[str]) -> list[str]:
    """The chain or set names among `names` that are kube-router's."""
    return sorted(n for n in names if ours(n) or n.startswith(IPSET_PREFIXES))


def _filter_rules() -> list[str]:
    """`iptables -S` of the filter table: a `-N chain` line per chain, an `-A chain ...` per rule."""
    return _run(IPTABLES, "-t", "filter", "-S").stdout.splitlines()


def _chains(rules: list[str]) -> list[str]:
    """The chains `rules` (`_filter_rules`) create."""
    return [words[1] for words in map(shlex.split, rules) if words[:1] == ["-N"]]


def _target(words: list[str]) -> str | None:
    for flag in ("-j", "-g"):
        if flag in words[:-1]:
            return words[words.index(flag) + 1]
    return None


def _empty_filter_table() -> bool:
    """Only iptables-nft's built-in chains remain, without rules, accepting."""
    return sorted(_filter_rules()) == sorted(f"-P {chain} ACCEPT" for chain in BUILTIN_CHAINS)


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), capture_output=True, text=True, check=False, timeout=60)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.strip()}")
    return result
