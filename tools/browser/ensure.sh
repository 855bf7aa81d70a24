#!/usr/bin/env bash
# Make sure `chromium` is on PATH; the dashboard tests (tests/dashboard) drive it with
# Playwright. Playwright's own browser download is not used: Debian's `chromium` package
# comes through the package manager like every other tool here, and the tests launch it
# by path.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium is missing: install Chromium so \`chromium\` is on PATH" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "installing Debian's chromium package"
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
# apt's chatter goes to a log, shown only when the install fails.
if ! { $SUDO apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium; } >"$LOG" 2>&1; then
    cat "$LOG" >&2
    echo "installing Debian's chromium package failed (apt-get's output is above)" >&2
    exit 1
fi
if ! command -v chromium >/dev/null 2>&1; then
    echo "Debian's chromium package is installed but \`chromium\` is not on PATH" >&2
    exit 1
fi
# Debian's launcher script warns on stderr about /dev/shm's size; the version is what matters.
chromium --version 2>/dev/null
