#!/usr/bin/env bash
# An npm package folder's packages (the dashboard's, newman's), installed once per lock:
# `npm ci` into a cache outside the clone (~/.cache/jobq/<folder's name>/, keyed by the
# lock, .npmrc and Node's version), linked as <folder>/node_modules.
# A fresh clone with a warm cache links in a second; a cold one runs `npm ci` (the
# dashboard ~20 s, newman ~5 s).
#   usage: tools/npm/deps.sh dashboard | tools/newman
set -euo pipefail
folder=${1:?usage: tools/npm/deps.sh <folder with package.json, package-lock.json and .npmrc>}
cd "$(dirname "$0")/../../$folder"

command -v npm >/dev/null || { echo "$folder: npm is missing (Node 20 and npm are needed)" >&2; exit 1; }
key=$(cat package.json package-lock.json .npmrc | sha256sum | cut -c1-16)-node$(node --version)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/jobq/$(basename "$folder")/$key"

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
