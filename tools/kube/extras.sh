#!/usr/bin/env bash
# Extras beside the control plane's binaries, from Go modules at the versions in versions.env:
#
#   tools/kube/extras.sh crds       # prometheus-operator's CRD YAMLs; prints their folder
#   tools/kube/extras.sh skaffold   # builds the skaffold CLI; prints the binary's path
#   tools/kube/extras.sh skaffold-schemas  # prints the folder of skaffold's JSON schemas
#                                   # (one per skaffold.yaml apiVersion, from the module's zip)
#
# Both land in the same cache folder as build.sh's binaries
# (${XDG_CACHE_HOME:-$HOME/.cache}/jobq/kube-<KUBE_VERSION>/), keyed by their own
# versions, so a second run is a no-op. Progress goes to stderr; stdout carries the path.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tools/kube/versions.env
source "$here/versions.env"

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/jobq"
root="$cache_root/kube-$KUBE_VERSION"
export GOMODCACHE="$cache_root/go/mod"
export GOCACHE="$cache_root/go/build"
export GOFLAGS="-mod=mod -modcacherw -buildvcs=false"
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0

log() { echo "kube-extras: $*" >&2; }
command -v go >/dev/null || { log "needs the Go toolchain on PATH"; exit 1; }
mkdir -p "$root"

# The module's Dir in the module cache (downloaded if missing).
module_dir() {
  local info
  info="$(go mod download -json "$1")"
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$info"
}

crds() {
  local out="$root/crds/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION" dir tmp
  if [[ -f "$out/.complete" ]]; then
    echo "$out"
    return
  fi
  mkdir -p "$root/crds"
  exec 8>"$root/crds/.lock"
  flock 8
  if [[ ! -f "$out/.complete" ]]; then
    log "prometheus-operator $PROMETHEUS_OPERATOR_VERSION CRDs ..."
    dir="$(module_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")"
    [[ -d "$dir/example/prometheus-operator-crd" ]] || { log "no example/prometheus-operator-crd in $dir"; exit 1; }
    tmp="$(mktemp -d "$root/crds/tmp.XXXXXX")"
    cp "$dir"/example/prometheus-operator-crd/*.yaml "$tmp/"
    chmod u+w "$tmp"/*.yaml
    touch "$tmp/.complete"
    rm -rf "$out"
    mv "$tmp" "$out"
  fi
  echo "$out"
}

skaffold() {
  local bin="$root/bin/skaffold-$SKAFFOLD_VERSION" module="github.com/GoogleContainerTools/skaffold/v2"
  local dir src tmp started gomod
  if [[ -x "$bin" ]]; then
    echo "$bin"
    return
  fi
  mkdir -p "$root/bin" "$root/src"
  exec 8>"$root/.skaffold.lock"
  flock 8
  if [[ ! -x "$bin" ]]; then
    started=$SECONDS
    log "building skaffold $SKAFFOLD_VERSION ..."
    src="$(module_dir "$module@$SKAFFOLD_VERSION")"
    dir="$root/src/skaffold"
    rm -rf "$dir"
    mkdir -p "$dir"
    printf 'module jobq.invalid/kube-build/skaffold\n\ngo 1.26.0\n' >"$dir/go.mod"
    cd "$dir"
    # A dependency's replace lines do not apply outside its own module: copy skaffold's.
    gomod="$src/go.mod"
    local -a edits=("-require=$module@$SKAFFOLD_VERSION")
    while read -r from _ to version; do
      edits+=("-replace=$from=$to@$version")
    done < <(sed -n 's/^replace \(.*\)$/\1/p' "$gomod")
    go mod edit "${edits[@]}"
    tmp="$(mktemp -d "$root/build.XXXXXX")"
    go build -trimpath -tags "osusergo,netgo" \
      -ldflags "-s -w -X $module/pkg/skaffold/version.version=$SKAFFOLD_VERSION" \
      -o "$tmp/skaffold" "$module/cmd/skaffold"
    mv -f "$tmp/skaffold" "$bin"
    rm -rf "$tmp"
    log "built skaffold in $((SECONDS - started))s"
  fi
  echo "$bin"
}

skaffold_schemas() {
  local dir
  dir="$(module_dir "github.com/GoogleContainerTools/skaffold/v2@$SKAFFOLD_VERSION")"
  [[ -d "$dir/docs-v2/content/en/schemas" ]] || { log "no docs-v2/content/en/schemas in $dir"; exit 1; }
  echo "$dir/docs-v2/content/en/schemas"
}

case "${1:-}" in
  crds) crds ;;
  skaffold) skaffold ;;
  skaffold-schemas) skaffold_schemas ;;
  *) log "usage: $0 crds|skaffold|skaffold-schemas"; exit 2 ;;
esac
