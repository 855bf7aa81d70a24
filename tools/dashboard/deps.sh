#!/usr/bin/env bash
# The dashboard's npm packages, installed once per lock: `npm ci` into a cache outside
# the clone (keyed by the lock, .npmrc and Node's version), linked as dashboard/node_modules.
# A fresh clone with a warm cache links in a second; a cold one runs `npm ci` (~20 s).
set -euo pipefail
cd "$(dirname "$0")/../../dashboard"

command -v npm >/dev/null || { echo "make dashboard: npm is missing (Node 20 and npm are needed)" >&2; exit 1; }
key=$(cat package.json package-lock.json .npmrc | sha256sum | cut -c1-16)-node$(node --version)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/jobq/dashboard/$key"

if [ ! -f "$cache/.complete" ]; then
    rm -rf "$cache"
    mkdir -p "$cache"
    cp package.json package-lock.json .npmrc "$cache/"
    (cd "$cache" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$cache/.complete"
fi

if [ "$(readlink node_modules 2>/dev/null)" != "$cache/node_modules" ]; then
    rm -rf node_modules
    ln -s "$cache/node_modules" node_modules
fi
