"""What a k8s test holds: the session's control plane and kubectl and helm pointed at it."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tools.kube.cluster import ControlPlane

T = TypeVar("T")
COMMAND_TIMEOUT_S = 60


@dataclass
class Kube:
    """The session's control plane, with kubectl and helm pointed at it."""

    cluster: ControlPlane

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (client certificate in group system:masters)."""
        return self.cluster.kubeconfig

    def run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run kubectl or helm against the cluster; with `check`, fail the test on a non-zero exit."""
        result = subprocess.run(
            [str(self.cluster.bin_dir / tool), *args],
            env=self.cluster.env(),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{tool} {' '.join(args)} exited {result.returncode}:\n{result.stderr}{result.stdout}")
        return result

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run kubectl against the cluster."""
        return self.run("kubectl", *args, check=check)

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run helm against the cluster."""
        return self.run("helm", *args, check=check)

    def get(self, *args: str) -> Any:
        """`kubectl get ... -o json`, parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def until(self, probe: Callable[[], T], *, timeout_s: float = 30.0, what: str = "condition") -> T:
        """Call `probe` until it returns something truthy; fail after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        last: T | None = None
        while time.monotonic() < deadline:
            last = probe()
            if last:
                return last
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout_s}s waiting for {what}; last value: {last!r}")


def json_objects(stream: str) -> list[Any]:
    """The objects of kubectl's `-o json` output for several objects: one document after the other."""
    objects: list[Any] = []
    decoder, stream, at = json.JSONDecoder(), stream.strip(), 0
    while at < len(stream):
        obj, at = decoder.raw_decode(stream, at)
        objects += obj["items"] if obj.get("kind") == "List" else [obj]
        while at < len(stream) and stream[at].isspace():
            at += 1
    return objects
