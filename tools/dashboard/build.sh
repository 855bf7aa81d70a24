#!/usr/bin/env bash
# Build the dashboard into dashboard/dist when its sources or lock changed since the
# last build (the hash is kept in dist/.sources); otherwise do nothing.
set -euo pipefail
cd "$(dirname "$0")/../../dashboard"

sources=$( (ls package.json package-lock.json index.html vite.config.ts tsconfig.json; find src public -type f) \
    | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
if [ -f dist/.sources ] && [ "$(cat dist/.sources)" = "$sources" ] && [ -f dist/index.html ]; then
    exit 0
fi
npm run --silent build
echo "$sources" > dist/.sources
