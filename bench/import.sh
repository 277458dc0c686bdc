#!/usr/bin/env bash
# The legacy CRM import at scale (issue 23's targets): time, rows per second
# and peak RSS of a first import, a re-import of the same export (nothing
# changed) and a later export with about 1% of its rows changed, on SQLite
# and PostgreSQL. Uses the release binary; prints a markdown table.
#
#   bench/import.sh [--leads N] [--db sqlite|postgres|both] [--no-build]
#
# Exports are generated once into $WORK (default /tmp/navigator-import-bench)
# by tests/fixtures/legacy-crm/generate.py, and the later export by
# later.py --every 300 (of every 300 lead rows: one renamed, one booking
# moved, one answered, one gone, one new person; a trial changed on one
# patient row in 300 with a trial). The machine's load is printed with the
# figures: on a shared machine they vary with it.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

LEADS=100000
DBS="sqlite postgres"
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --leads) LEADS=$2; shift 2 ;;
    --db) DBS=$2; [ "$DBS" = both ] && DBS="sqlite postgres"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
WORK=${WORK:-/tmp/navigator-import-bench}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
# DB_NAME: the SQLite file's or PostgreSQL database's name (two runs at
# once need two names and two WORK folders).
DB_NAME=${DB_NAME:-navigator_import_bench}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/$DB_NAME}
mkdir -p "$WORK"

[ "$BUILD" = 1 ] && cargo build --release --bin navigator >&2
BIN=${BIN:-target/release/navigator}
EXPORT=$WORK/leads-$LEADS/export
LATER=$WORK/leads-$LEADS/later
if [ ! -f "$EXPORT/eap_dossier.csv" ]; then
  python3 tests/fixtures/legacy-crm/generate.py --leads "$LEADS" --out "$EXPORT" >/dev/null
fi
if [ ! -f "$LATER/eap_dossier.csv" ]; then
  python3 tests/fixtures/legacy-crm/later.py "$EXPORT" "$LATER" --every 300
fi

# run LABEL DIR: one import under /usr/bin/time; prints a table row with
# the 1-minute load average before and after it (the machine is shared).
run() {
  local log=$WORK/import.log stats=$WORK/time.txt load_before
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -v -o "$stats" env RUST_LOG=warn "$BIN" import-legacy "$2" >"$log"
  local rows secs rss
  rows=$(sed -n 's/^Imported \([0-9]*\) rows.*/\1/p' "$log")
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$stats")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$stats")
  printf '| %s | %s | %s | %s | %.1f | %.0f | %s | %s-%s |\n' "$DB" "$LEADS" "$1" "$rows" "$secs" "$(echo "$rows / $secs" | bc -l)" "$rss" "$load_before" "$(cut -d' ' -f1 /proc/loadavg)"
  grep -E '^  (total|fields)' "$log" | sed 's/^/    /' >&2
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores, commit $(git rev-parse --short HEAD)"
echo
echo "| database | leads | import | rows | seconds | rows/s | peak RSS MB | load |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for DB in $DBS; do
  fresh_database "$DB" "$DB_NAME"
  "$BIN" migrate >/dev/null 2>&1
  run "first" "$EXPORT"
  run "same again" "$EXPORT"
  run "later (~1% changed)" "$LATER"
done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
