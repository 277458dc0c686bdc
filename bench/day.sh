#!/usr/bin/env bash
# The navigators' day at scale (issue 24): seeds N patients (default
# 1,000,000; with staff, owners, calls' navigators and search terms), serves
# on 127.0.0.1, and times with curl (median of 5 after a warm-up): a work
# queue page (`navigator=me`, sorted by date, and reminders due), a search,
# each metrics endpoint, and CSV exports (every converted patient: about
# 100,000 rows at 1,000,000 patients; every call of one navigator: about
# 75,000); prints the server's peak RSS during each request's six runs
# (VmHWM, reset before each through /proc/PID/clear_refs) and the load
# average before each database's requests. Markdown to stdout.
#
#   bench/day.sh [--patients N] [--db sqlite|postgres|both] [--port P] [--no-build] [--keep DIR]
#
# --keep DIR keeps the databases' files (SQLite) and the seed's output in
# DIR, and a later run with the same DIR serves what is there instead of
# seeding again (PostgreSQL's navigator_day_bench is kept likewise).
set -euo pipefail
cd "$(dirname "$0")/.."
PATIENTS=1000000
DBS="sqlite postgres"
PORT=4731
BUILD=1
KEEP=""
PG_ADMIN_URL=${BENCH_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/navigator_day_bench}
while [ $# -gt 0 ]; do
  case "$1" in
    --patients) PATIENTS=$2; shift 2 ;;
    --db) DBS=${2/both/sqlite postgres}; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --keep) KEEP=$2; shift 2 ;;
    *) sed -n '2,10p' "$0"; exit 2 ;;
  esac
done
[ "$BUILD" = 1 ] && cargo build --release --bin navigator --example seed
BIN=${BENCH_BIN:-target/release/navigator}
SEED=${BENCH_SEED:-target/release/examples/seed}
WORK=${KEEP:-$(mktemp -d)}
mkdir -p "$WORK"
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; [ -n "$KEEP" ] || rm -rf "$WORK"; }
trap cleanup EXIT
export NAVIGATOR_JWT_SECRET=bench-day-secret-bench-day-secret

# The server's peak RSS since the last reset (VmHWM), in MB; resets it.
peak() {
  awk '/VmHWM/ {printf "%.1f MB", $2 * 1024 / 1e6}' "/proc/$SERVER/status"
  echo 5 >"/proc/$SERVER/clear_refs"
}

# Median wall time (ms) of 5 requests after one warm-up.
timed() {
  local url=$1 accept=${2:-application/json}
  curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" -H "Accept: $accept" "$url"
  for _ in 1 2 3 4 5; do
    curl -fsS -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $TOKEN" -H "Accept: $accept" "$url"
  done | sort -n | sed -n 3p | awk '{printf "%.1f ms", $1 * 1000}'
}

# The URL of the page after the first of list URL $1 (its next_cursor).
page2() {
  local cursor
  cursor=$(curl -fsS -H "Authorization: Bearer $TOKEN" "$1" | jq -r .next_cursor)
  echo "$1&cursor=$cursor"
}

for DB in $DBS; do
  SEEDED=0
  [ -n "$KEEP" ] && [ -s "$WORK/seed-$DB.txt" ] && SEEDED=1
  case "$DB" in
    sqlite) URL="sqlite://$WORK/day.db?mode=rwc" ;;
    postgres)
      [ "$SEEDED" = 1 ] || psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS navigator_day_bench" -c "CREATE DATABASE navigator_day_bench"
      URL=$PG_URL ;;
  esac
  [ "$SEEDED" = 1 ] || "$SEED" --database-url "$URL" --patients "$PATIENTS" --out "$WORK/seed-$DB" >"$WORK/seed-$DB.txt"
  DATABASE_URL=$URL NAVIGATOR_ADDR=127.0.0.1:$PORT "$BIN" serve >"$WORK/server-$DB.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1 && break; sleep 0.2; done
  TOKEN=$(DATABASE_URL=$URL "$BIN" token --role navigator --sub navigator7)
  API=http://127.0.0.1:$PORT/v1
  echo "## $DB, $PATIENTS patients"
  echo
  cat "$WORK/seed-$DB.txt"
  echo
  echo "Load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| request | median of 5 | server peak RSS |"
  echo "| --- | --- | --- |"
  peak >/dev/null
  row() { echo "| $1 | $2 | $(peak) |"; }
  row "my calls, by date (navigator=me&sort=scheduled_at)" "$(timed "$API/calls?navigator=me&status=scheduled&sort=scheduled_at&limit=50")"
  row "my calls, newest first, a month" "$(timed "$API/calls?navigator=me&sort=-scheduled_at&scheduled_from=2026-01-01T00:00:00Z&scheduled_to=2026-02-01T00:00:00Z")"
  row "reminders due (reminder_due=true&sort=reminder_at)" "$(timed "$API/calls?reminder_due=true&sort=reminder_at&limit=50")"
  row "leads with no call booked" "$(timed "$API/patients?status=lead&call_booked=false&limit=50")"
  QUEUE="$API/patients?status=patient&has_physician=false&sort=-converted_at&limit=50"
  row "converted, no physician" "$(timed "$QUEUE")"
  row "converted, no physician, next page (keyset)" "$(timed "$(page2 "$QUEUE")")"
  row "reminders due, next page (keyset)" "$(timed "$(page2 "$API/calls?reminder_due=true&sort=reminder_at&limit=50")")"
  row "search q=jans" "$(timed "$API/patients?q=jans&limit=50")"
  row "search q=patient12345" "$(timed "$API/patients?q=patient12345&limit=50")"
  for metric in funnel calls referrals enrollments; do
    row "GET /v1/metrics/$metric" "$(timed "$API/metrics/$metric")"
  done
  row "CSV, every converted patient" "$(timed "$API/patients?status=patient" text/csv)"
  row "CSV, every call held by navigator7" "$(timed "$API/calls?navigator=me" text/csv)"
  PATIENT_LINES=$(curl -fsS -H "Authorization: Bearer $TOKEN" -H "Accept: text/csv" "$API/patients?status=patient" | wc -l)
  CALL_LINES=$(curl -fsS -H "Authorization: Bearer $TOKEN" -H "Accept: text/csv" "$API/calls?navigator=me" | wc -l)
  echo
  echo "CSV rows exported: $((PATIENT_LINES - 1)) converted patients (10%: ~$((PATIENTS / 10))), $((CALL_LINES - 1)) calls (1.5 per patient over 20 navigators: ~$((PATIENTS * 3 / 2 / 20)))."
  echo
  echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
done
