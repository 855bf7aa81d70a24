#!/usr/bin/env bash
# Make sure `prometheus` and `promtool` (Prometheus 2.x) are on PATH; the observability
# tests run them. Installs Debian's `prometheus` package when they are missing, without
# letting the package start its system service (the tests run their own on loopback).
set -euo pipefail

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "prometheus and promtool are missing: install Prometheus 2.x so both are on PATH" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
# policy-rc.d answering 101 tells invoke-rc.d and deb-systemd-invoke not to start services.
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 755 "$POLICY"
    trap '$SUDO rm -f "$POLICY"' EXIT
fi
echo "installing Debian's prometheus package (prometheus, promtool)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
prometheus --version 2>&1 | head -1
