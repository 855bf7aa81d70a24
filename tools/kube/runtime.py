"""The node's container runtime: Debian's containerd with runc and the CNI plugins, all under the node's folder.

containerd gets its own root, state, socket and config, so it never meets a system
containerd. Network namespaces and container mounts live under its state folder
(netns_mounts_under_state_dir) where host.py's undo finds them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from tools.kube import host
from tools.kube.images import PAUSE_IMAGE
from tools.kube.processes import Processes

CNI_PLUGINS = Path("/usr/lib/cni")
# The Debian binaries the node runs; packages.sh installs them.
CONTAINERD = "containerd"
CTR = "ctr"
NAMESPACE = "k8s.io"


def _config(folder: Path) -> str:
    def path(name: str) -> str:
        return json.dumps(str(folder / name))  # a TOML basic string is a JSON string

    cri = '[plugins."io.containerd.grpc.v1.cri"'
    return f"""\
version = 2
root = {path("root")}
state = {path("state")}
# Plugins that look for things this node does not have.
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = {path("containerd.sock")}

[ttrpc]
  address = {path("containerd.sock.ttrpc")}

[debug]
  address = {path("debug.sock")}

[plugins."io.containerd.internal.v1.opt"]
  path = {path("opt")}

{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  # Root here lacks CAP_SYS_RESOURCE: without this every pod sandbox fails to start.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false

{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false

{cri}.cni]
  bin_dir = "{CNI_PLUGINS}"
  conf_dir = {path("cni")}
  max_conf_num = 1

{cri}.registry]
  config_path = ""
"""


def _cni_config(folder: Path) -> dict[str, object]:
    return {
        "cniVersion": "1.0.0",
        "name": host.CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": host.BRIDGE,
                "isGateway": True,
                # No masquerade: pod traffic has nowhere to go but the machine.
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": host.POD_CIDR, "gateway": host.NODE_IP}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(folder / "ipam"),
                },
            },
            {"type": "loopback"},
        ],
    }


@dataclass
class Containerd:
    """A running containerd for the node; its socket is `socket`."""

    folder: Path
    processes: Processes

    @property
    def socket(self) -> Path:
        """The CRI and containerd API socket."""
        return self.folder / "containerd.sock"

    @classmethod
    def start(cls, folder: Path, processes: Processes, deadline: float) -> Containerd:
        """Write the config and CNI network, start containerd and wait for its API."""
        (folder / "cni").mkdir(parents=True, exist_ok=True)
        (folder / "config.toml").write_text(_config(folder))
        (folder / "cni" / "10-jobq.conflist").write_text(json.dumps(_cni_config(folder), indent=2) + "\n")
        executable = shutil.which(CONTAINERD)
        if executable is None:
            raise RuntimeError("containerd is missing: run tools/kube/packages.sh")
        processes.spawn(
            "containerd", Path(executable), "--config", str(folder / "config.toml"), "--log-level=warn", cwd=folder
        )
        runtime = cls(folder, processes)
        last = ""
        while time.monotonic() < deadline:
            if not processes.alive():
                raise RuntimeError(f"containerd did not start\n{processes.logs()}")
            result = runtime.ctr("version", check=False)
            if result.returncode == 0:
                return runtime
            last = result.stderr
            time.sleep(0.2)
        raise TimeoutError(f"containerd did not answer: {last}\n{processes.logs()}")

    def ctr(self, *args: str, check: bool = True, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
        """Run Debian's ctr against this containerd, in the CRI's namespace."""
        result = subprocess.run(
            [CTR, "--address", str(self.socket), "--namespace", NAMESPACE, *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout_s,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def load_images(self, archives: list[Path]) -> list[str]:
        """Import OCI image archives (buildah's oci-archive, images.py's) and return the image names.

        Each name must be fully qualified (`localhost/jobq-api:dev`, `jobq.invalid/x:1`):
        ctr keeps a short name such as `jobq-api:dev` as it is, while the CRI looks a pod's
        `jobq-api:dev` up under the default registry's name, and would never find it.
        """
        names = []
        for archive in archives:
            found = image_names_in(archive)
            short = [name for name in found if not is_qualified(name)]
            if not found or short:
                raise ValueError(
                    f"{archive}: its index must name each image fully, like localhost/NAME:TAG (names: {found})"
                )
            # Unpacked now, for the snapshotter the CRI runs containers from.
            self.ctr("images", "import", "--snapshotter", "overlayfs", str(archive))
            names.extend(found)
        return names

    def image_names(self) -> list[str]:
        """The names of the images containerd holds for the CRI."""
        lines = self.ctr("images", "list", "--quiet").stdout.split()
        return [line for line in lines if not line.startswith("sha256:")]

    def remove_pods(self, crictl: Path, timeout_s: float = 60) -> None:
        """Stop and remove every pod sandbox through the CRI, so their shims exit and mounts go."""
        subprocess.run(
            [str(crictl), "--runtime-endpoint", f"unix://{self.socket}", "--timeout", "30s", "rmp", "--all", "--force"],
            capture_output=True,
            check=False,
            timeout=timeout_s,
        )


def image_names_in(archive: Path) -> list[str]:
    """The image names an OCI archive's index gives its manifests (what ctr names them)."""
    with tarfile.open(archive) as tar:
        member = tar.extractfile("index.json")
        index = json.load(member) if member else {}
    names = []
    for manifest in index.get("manifests", []):
        annotations = manifest.get("annotations", {})
        name = annotations.get("io.containerd.image.name") or annotations.get("org.opencontainers.image.ref.name")
        if name:
            names.append(name)
    return names


def is_qualified(name: str) -> bool:
    """Whether an image name starts with a registry (a first part with a dot or port, or localhost)."""
    first, _, rest = name.partition("/")
    return bool(rest) and ("." in first or ":" in first or first == "localhost")
