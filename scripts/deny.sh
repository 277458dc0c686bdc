#!/usr/bin/env bash
# cargo-deny on the dependency graph, with deny.toml:
#
# - licenses, bans, sources: offline, always; any finding fails.
# - advisories: needs the RustSec advisory database, a git repository on
#   GitHub. When it can be fetched, any vulnerability fails. When it cannot
#   (this project's machines reach crates.io, PyPI, npm and Debian only), the
#   check is SKIPPED and this says so loudly, with the reason; set
#   NAVIGATOR_DENY_REQUIRE_ADVISORIES=1 to fail instead.
#
#   bash scripts/deny.sh
#
# Installs cargo-deny from crates.io (compiled: about 3 minutes on 2 cores,
# once per machine) when the pinned version is not on PATH.
set -uo pipefail
cd "$(dirname "$0")/.."

CARGO_DENY_VERSION=0.20.2
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

installed() { cargo deny --version 2>/dev/null | grep -qx "cargo-deny $CARGO_DENY_VERSION"; }
if ! installed; then
  echo "== installing cargo-deny $CARGO_DENY_VERSION from crates.io (compiling)"
  start=$(date +%s)
  cargo install --quiet --locked cargo-deny --version "$CARGO_DENY_VERSION" || exit 1
  echo "== cargo-deny installed in $(( $(date +%s) - start )) s"
  installed || { echo "cargo deny --version is not $CARGO_DENY_VERSION" >&2; exit 1; }
fi

# The offline check reads `cargo metadata`, which needs every crate in
# Cargo.lock, those of other platforms too (wasm-bindgen, ...): a fresh
# machine's builds fetched only this platform's.
cargo fetch --locked --quiet || { echo "FAILED: cargo fetch" >&2; exit 1; }
echo "== cargo deny: licenses, bans, sources (offline)"
cargo deny --color never --offline --locked check --hide-inclusion-graph licenses bans sources || {
  echo "FAILED: cargo deny licenses/bans/sources (see above)" >&2
  exit 1
}

echo "== cargo deny: advisories"
if fetch_log=$(timeout 300 cargo deny --color never fetch db 2>&1); then
  cargo deny --color never --offline --locked check --hide-inclusion-graph advisories || {
    echo "FAILED: cargo deny advisories (see above)" >&2
    exit 1
  }
  echo "advisories checked against a freshly fetched RustSec database"
else
  reason=$(printf '%s\n' "$fetch_log" | grep -E 'fatal:|error|ERROR' | tail -n 1)
  cat <<EOF

!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!! SKIPPED: cargo deny check advisories
!! The RustSec advisory database could not be fetched, so NO check for known
!! vulnerabilities, unmaintained or unsound crates ran.
!! Reason: ${reason:-cargo deny fetch db failed}
!! Only licenses, bans and sources were checked.
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!

EOF
  if [ "${NAVIGATOR_DENY_REQUIRE_ADVISORIES:-0}" = 1 ]; then
    echo "FAILED: NAVIGATOR_DENY_REQUIRE_ADVISORIES=1 and the advisory database is unavailable" >&2
    exit 1
  fi
fi
