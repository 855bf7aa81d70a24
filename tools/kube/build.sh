#!/usr/bin/env bash
# Build (or find) the binaries of a local Kubernetes cluster from Go modules, at the
# versions in versions.env. No container runtime or downloaded release binary is needed.
#
#   tools/kube/build.sh            # the control plane: etcd, kube-apiserver,
#                                  # kube-controller-manager, kubectl, helm
#   tools/kube/build.sh all        # and the node: kubelet, kube-scheduler, kube-proxy,
#                                  # crictl, coredns, kube-router (tools/kube/node.py runs them)
#   tools/kube/build.sh GROUP...   # just these groups (kube node helm etcd crictl coredns netpol)
#
# Either way it prints the folder holding the binaries.
#
# The binaries live outside the checkout, in a cache folder keyed by the Kubernetes
# version, so every clone on the machine shares them:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/jobq/kube-<KUBE_VERSION>/bin
# Go's module and build caches sit beside it (…/jobq/go). A stamp file records what
# was built with which versions, Go and flags; a second run is a no-op. A lock keeps
# concurrent runs (two test sessions at once) from building twice.
#
# Progress goes to stderr; stdout carries only the bin folder.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tools/kube/versions.env
source "$here/versions.env"

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/jobq"
root="$cache_root/kube-$KUBE_VERSION"
bin="$root/bin"
stamp="$root/stamp"

# Module and build caches persist beside the binaries; -modcacherw keeps the module
# cache deletable with a plain rm -rf. GOTOOLCHAIN=local: never fetch a toolchain.
export GOMODCACHE="$cache_root/go/mod"
export GOCACHE="$cache_root/go/build"
export GOFLAGS="-mod=mod -modcacherw -buildvcs=false"
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0

log() { echo "kube-build: $*" >&2; }

command -v go >/dev/null || { log "needs the Go toolchain (1.26 or newer) on PATH"; exit 1; }

mkdir -p "$bin" "$root/src"
exec 9>"$root/.lock"
flock 9
touch "$stamp"

go_version="$(go env GOVERSION)"
# Any change to this script (flags, recipe) rebuilds: the Go build cache keeps that to a relink.
script="$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)"
# The tags Kubernetes' own release build uses; grpcnotrace also lets the linker drop
# x/net/trace from etcd and helm.
tags="selinux,notest,grpcnotrace"
kube_minor="${KUBE_VERSION#v1.}"
kube_minor="${kube_minor%%.*}"
staging_version="v0.${KUBE_VERSION#v1.}"
helm_major="${HELM_VERSION%%.*}"
# The CoreDNS plugins the node's cluster DNS needs, in CoreDNS's own chain order
# (plugin.cfg). No `forward`: names outside the cluster are never sent anywhere.
coredns_plugins="bind ready health errors log cache kubernetes"

# One stamp line per binary group: what it is built from and how.
declare -A recipe=(
  [kube]="kube $KUBE_VERSION staging=$staging_version go=$go_version tags=$tags script=$script"
  [node]="node $KUBE_VERSION staging=$staging_version go=$go_version tags=$tags script=$script"
  [crictl]="crictl $CRICTL_VERSION go=$go_version tags=$tags script=$script"
  [coredns]="coredns $COREDNS_VERSION plugins=${coredns_plugins// /,} go=$go_version tags=$tags script=$script"
  [etcd]="etcd $ETCD_VERSION go=$go_version tags=$tags script=$script"
  [helm]="helm $HELM_VERSION go=$go_version tags=$tags script=$script"
  [netpol]="netpol $KUBE_ROUTER_VERSION go=$go_version tags=$tags script=$script"
)
declare -A binaries=(
  [kube]="kube-apiserver kube-controller-manager kubectl"
  [node]="kubelet kube-scheduler kube-proxy"
  [crictl]="crictl"
  [coredns]="coredns"
  [etcd]="etcd"
  [helm]="helm"
  [netpol]="kube-router"
)
# The order to build in when asked for `all`; the default is the control plane alone.
control_plane=(kube helm etcd)
everything=(kube node helm etcd crictl coredns netpol)

up_to_date() {
  local group="$1" name
  grep -Fxq "${recipe[$group]}" "$stamp" || return 1
  for name in ${binaries[$group]}; do
    [[ -x "$bin/$name" ]] || return 1
  done
}

record() {
  local group="$1"
  { grep -v "^$group " "$stamp" || true; echo "${recipe[$group]}"; } >"$stamp.tmp"
  mv "$stamp.tmp" "$stamp"
}

# A throwaway module in the cache folder that requires what is to be built.
new_module() {
  local dir="$root/src/$1"
  rm -rf "$dir"
  mkdir -p "$dir"
  printf 'module jobq.invalid/kube-build/%s\n\ngo 1.26.0\n' "$1" >"$dir/go.mod"
  echo "$dir"
}

# Move freshly built binaries into bin/ one rename each, so a reader never sees half a file.
install_from() {
  local tmp="$1" name
  shift
  for name in "$@"; do
    mv -f "$tmp/$name" "$bin/$name"
  done
  rm -rf "$tmp"
}

# The throwaway module for k8s.io/kubernetes's commands, and the ldflags of a release build.
kube_module() {
  local dir info gomod build_date modules pkg
  dir="$(new_module "$1")"
  cd "$dir"
  info="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION")"
  gomod="$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' <<<"$info")"
  # The release's tag time, so the binaries do not change with the day they were built.
  build_date="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "${gomod%.mod}.info")"

  # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with
  # folders of its own repository; outside it, each maps to its published v0.X.Y.
  modules="$(awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }' "$gomod")"
  [[ -n "$modules" ]] || { log "no staging modules found in $gomod"; exit 1; }
  local -a edits=("-require=k8s.io/kubernetes@$KUBE_VERSION")
  for pkg in $modules; do
    edits+=("-replace=$pkg=$pkg@$staging_version")
  done
  go mod edit "${edits[@]}"
  log "k8s.io/kubernetes $KUBE_VERSION with $(wc -w <<<"$modules") staging modules at $staging_version"

  # What hack/lib/version.sh stamps into a release build.
  kube_ldflags="-s -w"
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    kube_ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$kube_minor"
    kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
  done
}

# Build the named commands of k8s.io/kubernetes (cmd/NAME) into bin/.
build_kube_commands() {
  local group="$1" tmp name
  shift
  kube_module "$group"
  local -a packages=()
  for name in "$@"; do
    packages+=("k8s.io/kubernetes/cmd/$name")
  done
  tmp="$(mktemp -d "$root/build.XXXXXX")"
  go build -trimpath -tags "$tags" -ldflags "$kube_ldflags" -o "$tmp/" "${packages[@]}"
  install_from "$tmp" "$@"
}

build_kube() {
  # shellcheck disable=SC2086 # a word list by design
  build_kube_commands kube ${binaries[kube]}
}

build_node() {
  # shellcheck disable=SC2086 # a word list by design
  build_kube_commands node ${binaries[node]}
}

build_crictl() {
  local dir tmp module="sigs.k8s.io/cri-tools"
  dir="$(new_module crictl)"
  cd "$dir"
  go mod edit "-require=$module@$CRICTL_VERSION"
  tmp="$(mktemp -d "$root/build.XXXXXX")"
  go build -trimpath -tags "$tags" -ldflags "-s -w -X $module/pkg/version.Version=$CRICTL_VERSION" \
    -o "$tmp/crictl" "$module/cmd/crictl"
  install_from "$tmp" crictl
}

# CoreDNS's own main package links every plugin (and the cloud SDKs of route53, azure,
# clouddns); a main of our own links only $coredns_plugins, as CoreDNS documents for
# custom builds: the directive list in chain order, one blank import per plugin.
build_coredns() {
  local dir tmp module="github.com/coredns/coredns" plugin
  dir="$(new_module coredns)"
  cd "$dir"
  go mod edit "-require=$module@$COREDNS_VERSION"
  {
    echo "package main"
    echo
    echo "import ("
    echo "	\"$module/core/dnsserver\""
    echo "	\"$module/coremain\""
    for plugin in $coredns_plugins; do
      echo "	_ \"$module/plugin/$plugin\""
    done
    echo ")"
    echo
    printf 'func init() { dnsserver.Directives = []string{'
    for plugin in $coredns_plugins; do
      printf '"%s", ' "$plugin"
    done
    echo '} }'
    echo
    echo "func main() { coremain.Run() }"
  } >main.go
  tmp="$(mktemp -d "$root/build.XXXXXX")"
  go build -trimpath -tags "$tags" -ldflags "-s -w" -o "$tmp/coredns" .
  install_from "$tmp" coredns
}

build_etcd() {
  local dir tmp
  dir="$(new_module etcd)"
  cd "$dir"
  go mod edit "-require=go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  tmp="$(mktemp -d "$root/build.XXXXXX")"
  go build -trimpath -tags "$tags" -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3
  install_from "$tmp" etcd
}

build_helm() {
  local dir tmp module="helm.sh/helm/$helm_major"
  dir="$(new_module helm)"
  cd "$dir"
  go mod edit "-require=$module@$HELM_VERSION"
  tmp="$(mktemp -d "$root/build.XXXXXX")"
  go build -trimpath -tags "$tags" \
    -ldflags "-s -w -X $module/internal/version.version=$HELM_VERSION -X $module/internal/version.gitTreeState=clean" \
    -o "$tmp/helm" "$module/cmd/helm"
  install_from "$tmp" helm
}

# kube-router, which the node runs as its NetworkPolicy enforcer only (no routing, no
# service proxy): its cmd/kube-router, version-stamped as its Makefile does, with the tag's time.
build_netpol() {
  local dir tmp info module="github.com/cloudnativelabs/kube-router/v2" build_date
  dir="$(new_module netpol)"
  cd "$dir"
  go mod edit "-require=$module@$KUBE_ROUTER_VERSION"
  info="$(go mod download -json "$module@$KUBE_ROUTER_VERSION")"
  info="$(sed -n 's/^[[:space:]]*"Info": "\(.*\)",$/\1/p' <<<"$info")"
  build_date="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$info")"
  tmp="$(mktemp -d "$root/build.XXXXXX")"
  go build -trimpath -tags "$tags" \
    -ldflags "-s -w -X $module/pkg/version.Version=$KUBE_ROUTER_VERSION -X $module/pkg/version.BuildDate=$build_date" \
    -o "$tmp/kube-router" "$module/cmd/kube-router"
  install_from "$tmp" kube-router
}

# Sequential on purpose: each build already uses every core, and later builds reuse
# packages the earlier ones compiled (client-go, grpc, protobuf) from the build cache.
if [[ $# -eq 0 ]]; then
  groups=("${control_plane[@]}")
elif [[ "$*" == all ]]; then
  groups=("${everything[@]}")
else
  groups=("$@")
  for group in "${groups[@]}"; do
    [[ -v "recipe[$group]" ]] || { log "no binary group '$group' (one of: ${everything[*]}, or all)"; exit 2; }
  done
fi
for group in "${groups[@]}"; do
  if up_to_date "$group"; then
    continue
  fi
  log "building ${binaries[$group]} (${recipe[$group]}) ..."
  started=$SECONDS
  "build_$group"
  record "$group"
  log "built ${binaries[$group]} in $((SECONDS - started))s"
done

echo "$bin"
