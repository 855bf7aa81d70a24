#!/usr/bin/env bash
# Build (or find) the chart's linters: kube-score and pint from Go modules at the versions
# in versions.env, and checkov from PyPI in a venv of its own (requirements/checkov.lock).
#
#   tools/chartlint/build.sh         # build or find them; print the folder holding them
#   tools/chartlint/build.sh lock    # re-resolve requirements/checkov.lock (hashed)
#
# Everything lives outside the checkout, so every clone on the machine shares it:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/jobq/chartlint-<hash of the versions>/bin
#   ${XDG_CACHE_HOME:-$HOME/.cache}/jobq/checkov-<hash of the lock and Python>/
# Go's module and build caches are tools/kube/build.sh's (…/jobq/go). A stamp file records
# what was built with which versions, Go and script; a second run is a no-op. A lock keeps
# concurrent runs from building twice.
#
# uv comes from $UV, else the project venv, else PATH; the checkov venv's Python is
# $CHECKOV_PYTHON, else python3 (the lock is resolved for CHECKOV_PYTHON_VERSION below).
# Progress goes to stderr; stdout carries only the bin folder.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=tools/chartlint/versions.env
source "$here/versions.env"

log() { echo "chartlint-build: $*" >&2; }

checkov_in="$repo/requirements/checkov.in"
checkov_lock="$repo/requirements/checkov.lock"
# The interpreter the lock is resolved for: the oldest the project's venvs use.
CHECKOV_PYTHON_VERSION=3.11

find_uv() {
  if [[ -n "${UV:-}" ]]; then
    echo "$UV"
  elif [[ -x "$repo/.venv/bin/uv" ]]; then
    echo "$repo/.venv/bin/uv"
  elif command -v uv >/dev/null; then
    command -v uv
  else
    log "needs uv: run \`make venv\` (the project venv carries it) or set UV"
    exit 1
  fi
}

if [[ "${1:-}" == lock ]]; then
  "$(find_uv)" pip compile --quiet "$checkov_in" -o "$checkov_lock" \
    --python-version "$CHECKOV_PYTHON_VERSION" --generate-hashes \
    --no-emit-index-url --no-emit-find-links --custom-compile-command "bash tools/chartlint/build.sh lock"
  exit 0
elif [[ $# -gt 0 ]]; then
  log "usage: build.sh [lock]"
  exit 2
fi

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/jobq"
versions="$(grep -E '^[A-Z_]+=' "$here/versions.env" | sha256sum | cut -c1-12)"
root="$cache_root/chartlint-$versions"
bin="$root/bin"
stamp="$root/stamp"

# The same caches and flags as tools/kube/build.sh: -modcacherw keeps the module cache
# deletable with a plain rm -rf; GOTOOLCHAIN=local never fetches a toolchain.
export GOMODCACHE="$cache_root/go/mod"
export GOCACHE="$cache_root/go/build"
export GOFLAGS="-modcacherw -buildvcs=false"
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0

mkdir -p "$bin"
exec 9>"$root/.lock"
flock 9
touch "$stamp"

# Any change to this script (flags, recipe) rebuilds: the Go build cache keeps that to a relink.
script="$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)"
python="${CHECKOV_PYTHON:-python3}"
python_id="$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3], sys.base_prefix)')"
python_id="${python_id// /@}"
checkov_hash="$({ cat "$checkov_lock"; echo "$python_id"; } | sha256sum | cut -c1-16)"
checkov_venv="$cache_root/checkov-$checkov_hash"

# Without Go on PATH the Go tools count as stale; building them then says what is missing.
go_version="$(go env GOVERSION 2>/dev/null || echo none)"

# One stamp line per tool: what it is built from and how.
recipe() {
  case "$1" in
    kube-score) echo "kube-score $KUBE_SCORE_VERSION go=$go_version script=$script" ;;
    pint) echo "pint $PINT_VERSION go=$go_version script=$script" ;;
    checkov) echo "checkov lock=$checkov_hash script=$script" ;;
  esac
}

up_to_date() {
  grep -Fxq "$(recipe "$1")" "$stamp" && [[ -x "$bin/$1" ]]
}

record() {
  local line
  line="$(recipe "$1")"
  { grep -v "^$1 " "$stamp" || true; echo "$line"; } >"$stamp.tmp"
  mv "$stamp.tmp" "$stamp"
}

# What `go install PACKAGE@VERSION` builds, through a throwaway module that requires
# exactly that version (as tools/kube/build.sh does): `go install …@version` also reads the
# module's version list for deprecations, and the proxy refuses pint's list (it serves the
# version itself). The binary lands in a scratch folder, then one rename into bin/, so a
# reader never sees half a file.
go_install() {
  local name="$1" package="$2" module="$3" version="$4" dir tmp
  command -v go >/dev/null || { log "needs the Go toolchain (1.26 or newer) on PATH"; exit 1; }
  dir="$root/src/$name"
  rm -rf "$dir"
  mkdir -p "$dir"
  printf 'module jobq.invalid/chartlint-build/%s\n\ngo 1.26.0\n' "$name" >"$dir/go.mod"
  (
    cd "$dir"
    go mod edit "-require=$module@$version"
    tmp="$(mktemp -d "$root/build.XXXXXX")"
    go build -mod=mod -trimpath -ldflags "-s -w -X main.version=$version" -o "$tmp/$name" "$package"
    mv -f "$tmp/$name" "$bin/$name"
    rm -rf "$tmp"
  )
}

build_kube-score() {
  go_install kube-score github.com/zegl/kube-score/cmd/kube-score github.com/zegl/kube-score "$KUBE_SCORE_VERSION"
}

build_pint() { go_install pint github.com/cloudflare/pint/cmd/pint github.com/cloudflare/pint "$PINT_VERSION"; }

# A relocatable venv built aside and moved into place last, so an interrupted build leaves
# nothing that looks complete; every package is checked against the lock's hashes.
build_checkov() {
  local uv tmp
  uv="$(find_uv)"
  if [[ ! -x "$checkov_venv/bin/checkov" ]]; then
    tmp="$(mktemp -d "$cache_root/.checkov-$checkov_hash.XXXXXX")"
    "$uv" venv --quiet --relocatable --python "$python" "$tmp"
    "$uv" pip install --quiet --python "$tmp/bin/python" --require-hashes -r "$checkov_lock"
    rm -rf "$checkov_venv"
    mv "$tmp" "$checkov_venv"
  fi
  ln -sfn "$checkov_venv/bin/checkov" "$bin/checkov"
}

# Sequential on purpose: each Go build already uses every core.
for tool in kube-score pint checkov; do
  if up_to_date "$tool"; then
    continue
  fi
  log "building $tool ($(recipe "$tool")) ..."
  started=$SECONDS
  "build_$tool"
  record "$tool"
  log "built $tool in $((SECONDS - started))s"
done

echo "$bin"
