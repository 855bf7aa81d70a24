#!/usr/bin/env bash
# Re-resolve dashboard/package-lock.json (`make dashboard-lock`): npm writes it without
# registry addresses (.npmrc), and this drops the packages' "funding" links too, so the
# lock names no host at all (npm ci does not read them).
set -euo pipefail
cd "$(dirname "$0")/../../dashboard"
npm install --package-lock-only --ignore-scripts --no-audit --no-fund --loglevel=error
node -e '
const fs = require("fs");
const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
for (const entry of Object.values(lock.packages ?? {})) delete entry.funding;
fs.writeFileSync("package-lock.json", JSON.stringify(lock, null, 2) + "\n");
'
