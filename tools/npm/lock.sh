#!/usr/bin/env bash
# Re-resolve an npm package folder's package-lock.json (`make dashboard-lock`,
# `make postman-lock`): npm writes it without registry addresses (the folder's .npmrc),
# and this drops the packages' "funding" links too, so the lock names no host at all
# (npm ci does not read them).
#   usage: tools/npm/lock.sh dashboard | tools/newman
set -euo pipefail
folder=${1:?usage: tools/npm/lock.sh <folder with package.json and .npmrc>}
cd "$(dirname "$0")/../../$folder"
npm install --package-lock-only --ignore-scripts --no-audit --no-fund --loglevel=error
node -e '
const fs = require("fs");
const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
for (const entry of Object.values(lock.packages ?? {})) delete entry.funding;
fs.writeFileSync("package-lock.json", JSON.stringify(lock, null, 2) + "\n");
'
