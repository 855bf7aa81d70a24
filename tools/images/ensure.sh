#!/usr/bin/env bash
# Make sure buildah, runc and mmdebstrap are on PATH: `make images` builds with them when
# no Docker engine runs. Installs Debian's packages when they are missing. runc, not
# crun: Debian 12's crun refuses a cgroup v1 host ("hybrid mode not supported"), and
# buildah picks runc when crun is absent.
set -euo pipefail

missing=()
for tool in buildah runc mmdebstrap; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "${missing[*]} missing: install buildah, runc and mmdebstrap so they are on PATH" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "installing Debian's packages for ${missing[*]}"
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
# Other runs may be installing packages at the same time: wait for dpkg's lock instead of
# failing on it. apt's chatter goes to a log, shown only when the install fails.
APT=(apt-get -o DPkg::Lock::Timeout=600)
if ! { $SUDO "${APT[@]}" update -qq \
    && $SUDO env DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -qq --no-install-recommends \
        buildah runc mmdebstrap; } >"$LOG" 2>&1; then
    cat "$LOG" >&2
    echo "installing buildah, runc and mmdebstrap failed (apt-get's output is above)" >&2
    exit 1
fi
buildah --version
