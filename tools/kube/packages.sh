#!/usr/bin/env bash
# Make sure the node's Debian packages are installed: the container runtime (containerd,
# runc), the CNI plugins, the firewall tools kube-proxy, kube-router and the node drive
# (nftables, iptables, ipset, conntrack), and busybox-static, whose binary tests/cluster
# packs into a tiny image. Installs only what is missing, without letting containerd start
# its system service (the node runs its own containerd under the cluster's folder).
#
#   tools/kube/packages.sh
set -euo pipefail

packages=(containerd runc containernetworking-plugins iptables ipset nftables socat conntrack busybox-static)

missing=()
for package in "${packages[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)"
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

command -v apt-get >/dev/null || { echo "node packages missing (${missing[*]}): install them" >&2; exit 1; }
SUDO=""
[[ "$(id -u)" -eq 0 ]] || SUDO="sudo"

# policy-rc.d answering 101 tells invoke-rc.d and deb-systemd-invoke not to start services.
POLICY=/usr/sbin/policy-rc.d
if [[ ! -e "$POLICY" ]]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 755 "$POLICY"
  trap '$SUDO rm -f "$POLICY"' EXIT
fi
echo "kube-packages: installing ${missing[*]}" >&2
# Other runs on the machine may hold dpkg's lock: wait for it rather than fail.
apt=(apt-get -o DPkg::Lock::Timeout=600 -qq)
$SUDO "${apt[@]}" update
$SUDO env DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null
