#!/usr/bin/env bash
# The console's end-to-end tests (tests/e2e/) in headless Chromium, driven
# by playwright-core with Debian's chromium (no browser download), against
# the real binary on a fresh SQLite file and a fresh PostgreSQL database.
# Installs what it needs: apt's chromium, npm's packages from
# package-lock.json.
#
#   scripts/console-e2e.sh [--screenshots]   (--screenshots: also write docs/screenshots/*.png)
#
# PostgreSQL: TEST_DATABASE_URL's server (default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export NAVIGATOR_BIN=${NAVIGATOR_BIN:-$root/target/debug/navigator}
shots=""
[ "${1:-}" = "--screenshots" ] && shots=$root/docs/screenshots

if ! command -v chromium >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
export CHROMIUM=$(command -v chromium)
npm ci --no-audit --no-fund --silent
cargo build --quiet --bin navigator

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() {
  node --test --test-concurrency=1 --test-reporter=spec tests/e2e/console.test.mjs
}

echo "--- console on SQLite"
DATABASE_URL="sqlite://$work/console.db" PORT=4601 SCREENSHOTS=$shots run

echo "--- console on PostgreSQL"
admin=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
PGOPTIONS=--client-min-messages=warning psql "$admin" -qc "DROP DATABASE IF EXISTS navigator_console_e2e" -c "CREATE DATABASE navigator_console_e2e"
DATABASE_URL="${admin%/*}/navigator_console_e2e" PORT=4602 run
PGOPTIONS=--client-min-messages=warning psql "$admin" -qc "DROP DATABASE IF EXISTS navigator_console_e2e"
