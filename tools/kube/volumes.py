"""Storage for StatefulSets without a provisioner: a default StorageClass, pre-made local
PersistentVolumes in folders of the node, and a recycler that makes released ones available again.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from tools.kube.addons import NODE_NAME

STORAGE_CLASS = "local"
VOLUME_LABEL = "jobq.dev/local-volume"
# Nominal: local volumes share the cluster's folder and reserve nothing. Large enough
# for the chart's bundled PostgreSQL (8Gi) and Redis (1Gi) claims.
VOLUME_CAPACITY = "10Gi"
RECYCLE_INTERVAL_S = 2.0


def storage(volumes_dir: Path, count: int) -> list[dict[str, object]]:
    """The default StorageClass and `count` local PersistentVolumes in folders under `volumes_dir`.

    WaitForFirstConsumer, so a claim binds once its pod is scheduled, as with a real
    provisioner. Retain: with no provisioner nothing could delete a released volume's
    data; `Recycler` wipes such volumes and makes them available again.
    """
    objects: list[dict[str, object]] = [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Retain",
        }
    ]
    for index in range(count):
        folder = volumes_dir / f"pv{index:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": f"jobq-local-{index:02d}", "labels": {VOLUME_LABEL: "true"}},
                "spec": {
                    "capacity": {"storage": VOLUME_CAPACITY},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": STORAGE_CLASS,
                    "local": {"path": str(folder)},
                    "nodeAffinity": {
                        "required": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {"key": "kubernetes.io/hostname", "operator": "In", "values": [NODE_NAME]}
                                    ]
                                }
                            ]
                        }
                    },
                },
            }
        )
    return objects


class Recycler:
    """Every couple of seconds, wipes each Released local volume and frees it for a new claim.

    With no provisioner nothing else would: a claim deleted with its namespace (a
    StatefulSet's, after `helm uninstall`) leaves its volume Released for good, and a
    session that installs the chart many times would run out.
    """

    def __init__(self, kubectl: Callable[..., subprocess.CompletedProcess[str]], volumes_dir: Path):
        self._kubectl = kubectl
        self.root = volumes_dir.resolve()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jobq-volume-recycler", daemon=True)

    def start(self) -> None:
        """Start recycling in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (within one interval)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(RECYCLE_INTERVAL_S * 5)

    def _run(self) -> None:
        while not self._stopping.wait(RECYCLE_INTERVAL_S):
            try:
                self.recycle_once()
            except (RuntimeError, subprocess.SubprocessError, OSError, ValueError):
                continue  # the API may be going away under us on stop; try again next round

    def recycle_once(self) -> list[str]:
        """Free every Released volume now; returns their names."""
        listed = self._kubectl("get", "pv", "-l", f"{VOLUME_LABEL}=true", "-o", "json", check=False)
        if listed.returncode != 0:
            return []
        freed = []
        for volume in json.loads(listed.stdout)["items"]:
            if volume.get("status", {}).get("phase") != "Released":
                continue
            folder = Path(volume["spec"]["local"]["path"]).resolve()
            if not folder.is_relative_to(self.root):
                continue  # wiped as root: only ever a folder of our own volumes
            for entry in folder.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
            name = volume["metadata"]["name"]
            patch = json.dumps([{"op": "remove", "path": "/spec/claimRef"}])
            if self._kubectl("patch", "pv", name, "--type", "json", "-p", patch, check=False).returncode == 0:
                freed.append(name)
        return freed
