#!/usr/bin/env bash
# The benchmark, in one command: build (release), seed, serve, load with wrk
# on 127.0.0.1, compare with pgbench, cold start, memory, sizes; writes
# bench/results/latest.md (--quick: bench/results/quick.md) and prints it.
# See bench/README.md.
#
#   bench/run.sh [--patients N] [--duration S] [--connections C]
#                [--db sqlite|postgres|both] [--port P] [--pairs K] [--quick]
#                [--lambda] [--no-build] [--results FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
. bench/lib.sh

PATIENTS=100000
DURATION=10
CONNECTIONS=32
THREADS=2
# The server's database pool: its default (`serve --max-connections`),
# passed explicitly because pgbench's rate-matched run uses as many.
POOL=8
DBS=both
PORT=3917
# Back-to-back pairs of a GET-by-id run and a pgbench run (see PAIRS below).
PAIRS=5
QUICK=0
LAMBDA=0
BUILD=1
RESULTS=""
ARGS="$*"
PG_ADMIN_URL=${BENCH_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/navigator_bench}
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --patients) PATIENTS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --db) DBS=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --pairs) PAIRS=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --lambda) LAMBDA=1; shift ;;
    --no-build) BUILD=0; shift ;;
    --results) RESULTS=$2; shift 2 ;;
    -h | --help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage 2 ;;
  esac
done
if [ "$QUICK" = 1 ]; then
  PATIENTS=2000 DURATION=3 PAIRS=2
  RESULTS=${RESULTS:-bench/results/quick.md}
else
  RESULTS=${RESULTS:-bench/results/latest.md}
fi
case "$DBS" in
  both) DBS="sqlite postgres" ;;
  sqlite | postgres) ;;
  *) echo "--db must be sqlite, postgres or both" >&2; exit 2 ;;
esac
[[ "$PAIRS" =~ ^[1-9][0-9]*$ ]] || { echo "--pairs must be a whole number of at least 1" >&2; exit 2; }

WORK=$ROOT/target/bench
mkdir -p "$WORK" bench/results
export BENCH_DIR=$ROOT/bench BENCH_THREADS=$THREADS
# One secret for the server and the token command (and no secret file).
NAVIGATOR_JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export NAVIGATOR_JWT_SECRET
# The load comes from one address: lift the public intake's per-client rate
# limit (it still runs, and its cost is measured) so that the intake scenario
# measures submissions, not 429s.
export NAVIGATOR_INTAKE_BURST=1000000000 NAVIGATOR_INTAKE_PER_SECOND=1000000
unset NAVIGATOR_ADDR NAVIGATOR_DB_MAX_CONNECTIONS

say() { printf '%s\n' "$*" | tee -a "$WORK/report.txt"; }
: >"$WORK/report.txt"

# ---- tools -----------------------------------------------------------------
need wrk wrk
PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | tail -1)
if [[ " $DBS " == *" postgres "* ]]; then
  pg_isready -q -h 127.0.0.1 -p 5432 || { echo "PostgreSQL is not answering on 127.0.0.1:5432" >&2; exit 1; }
fi

# ---- build -----------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
  cargo build --release --bin navigator --example seed --example floor
fi
BIN=$ROOT/target/release/navigator
SEED=$ROOT/target/release/examples/seed
FLOOR=$ROOT/target/release/examples/floor

# ---- helpers ---------------------------------------------------------------
SERVER_PID=""
SAMPLER_PID=""
FLOOR_PID=""
cleanup() {
  [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null || true
  [ -n "$FLOOR_PID" ] && kill "$FLOOR_PID" 2>/dev/null || true
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

rss_kb() { # VmRSS of a process, in kB
  local key value _
  while read -r key value _; do
    [ "$key" = VmRSS: ] && { echo "$value"; return; }
  done <"/proc/$1/status"
}
mb() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb * 1024 / 1e6 }'; } # kB (KiB) -> MB (10^6 bytes)
ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }
# pass_if VALUE OP LIMIT -> PASS or MISS
pass_if() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
  ok = (op == "<") ? (v < l) : (op == "<=") ? (v <= l) : (op == ">=") ? (v >= l) : (v > l)
  print ok ? "PASS" : "MISS" }'; }


# CPU time (user + system, in clock ticks) a process has used.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# ... all PostgreSQL processes (its backends, writers and walwriter) have
# used: the live ones' own time, plus the time of backends that have exited
# (pgbench's, at the end of its run), which the kernel adds to their parent,
# the postmaster, when it reaps them (cutime, cstime).
# (A process that ends between the glob and its read makes cat fail; with
# pipefail and set -e that ended the whole run, as it did once when the
# server's connections closed.)
pg_ticks() { { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk '$2 == "(postgres)" { t += $14 + $15 + $16 + $17 } END { print t + 0 }'; }
# ... the whole machine has been busy (user, nice, system, irq, softirq;
# not idle, iowait or steal), summed over its CPUs.
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
TICK=$(getconf CLK_TCK)
# percent A B -> A as a percentage of B (0 when B is 0)
percent() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b > 0 ? 100 * a / b : 0) }'; }
# median NUMBER... and range NUMBER... (as "lowest–highest%")
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range() { echo "$(printf '%s\n' "$@" | sort -g | head -1)–$(printf '%s\n' "$@" | sort -g | tail -1)%"; }
# per_op TICKS OPS -> microseconds per operation
per_op() { awk -v t="$1" -v hz="$TICK" -v n="$2" 'BEGIN { printf "%.0f", n ? t / hz * 1e6 / n : 0 }'; }

# Scenario results, keyed "db/scenario": the printed line and the figures.
declare -A LINE RPS P50 P99 ERRS CPU PGCPU BUSY

# scenario KEY LABEL SCRIPT URL-PATH [ENV=VALUE...]
scenario() {
  local key=$1 label=$2 script=$3 path=$4
  shift 4
  local out result cpu_before pg_before busy_before
  cpu_before=$(cpu_ticks "$SERVER_PID") pg_before=$(pg_ticks) busy_before=$(busy_ticks)
  out=$(env BENCH_TOKEN="$TOKEN" "$@" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" \
    --timeout 5s -s "bench/lua/$script" "http://127.0.0.1:$PORT$path" 2>&1) || true
  result=$(grep '^RESULT' <<<"$out" || true)
  if [ -z "$result" ]; then
    echo "$out" >&2
    LINE[$DB/$key]=$(printf '%-9s %-34s wrk failed' "$DB" "$label")
    ERRS[$DB/$key]=1
    say "${LINE[$DB/$key]}"
    return
  fi
  local rps p50 p99 status socket s412 errors
  rps=$(sed -E 's/.* rps=([0-9.]+).*/\1/' <<<"$result")
  p50=$(sed -E 's/.* p50_us=([0-9]+).*/\1/' <<<"$result")
  p99=$(sed -E 's/.* p99_us=([0-9]+).*/\1/' <<<"$result")
  status=$(sed -E 's/.* status_errors=([0-9]+).*/\1/' <<<"$result")
  socket=$(sed -E 's/.* socket_errors=([0-9]+).*/\1/' <<<"$result")
  s412=$(sed -E 's/.* s412=([0-9]+).*/\1/' <<<"$result")
  errors=$((status + socket))
  RPS[$DB/$key]=$rps P50[$DB/$key]=$(ms "$p50") P99[$DB/$key]=$(ms "$p99") ERRS[$DB/$key]=$errors
  # CPU time per request (user + system), in microseconds: the server's own,
  # PostgreSQL's, and the whole machine's (the rest is mostly wrk and the
  # kernel's loopback work not charged to a process).
  local requests
  requests=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$result")
  CPU[$DB/$key]=$(per_op $(($(cpu_ticks "$SERVER_PID") - cpu_before)) "$requests")
  BUSY[$DB/$key]=$(per_op $(($(busy_ticks) - busy_before)) "$requests")
  if [ "$DB" = postgres ]; then PGCPU[$DB/$key]=$(per_op $(($(pg_ticks) - pg_before)) "$requests"); else PGCPU[$DB/$key]="-"; fi
  LINE[$DB/$key]=$(printf '%-9s %-34s %9.0f req/s  p50 %7s ms  p99 %7s ms  errors %d (non-2xx %d, socket %d, of which 412: %d)  server CPU %s us/req' \
    "$DB" "$label" "$rps" "${P50[$DB/$key]}" "${P99[$DB/$key]}" "$errors" "$status" "$socket" "$s412" "${CPU[$DB/$key]}")
  say "${LINE[$DB/$key]}"
}

# not_available KEY LABEL REASON
not_available() {
  LINE[$DB/$1]=$(printf '%-9s %-34s n/a (endpoint not available: %s)' "$DB" "$2" "$3")
  say "${LINE[$DB/$1]}"
}

# ---- machine ---------------------------------------------------------------
MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
MEM=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
PGVERSION=$(psql "$PG_ADMIN_URL" -Atc 'show server_version' 2>/dev/null || echo "n/a")
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || COMMIT="$COMMIT (with uncommitted changes)"
# With --no-build the binaries are whatever target/release holds, which
# need not be this commit's: say when the server was built.
if [ "$BUILD" = 0 ]; then
  BUILT=$(date -u -r "$BIN" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo "n/a")
  COMMIT="$COMMIT (--no-build: the server binary was built at $BUILT, not by this run)"
fi
DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
if pgrep -x rustc >/dev/null || pgrep -x cc1 >/dev/null; then
  LOAD_START="$LOAD_START (a compiler was running at the start)"
fi
say "Navigator benchmark: $PATIENTS patients, $DURATION s per scenario, $CONNECTIONS connections, $THREADS wrk threads"
say "machine: $(nproc) CPUs ($MODEL), $MEM, Linux $(uname -r), PostgreSQL $PGVERSION; $DATE; commit $COMMIT; load average $LOAD_START"

declare -A SEEDLINE IDLE PEAK PGB_TPS PGB_LAT PGB_BUSY PGB_PG PLANS
COLD_HEALTH="" COLD_PATIENT="" MATCHED_RATE="" MATCHED_PG="" PAIR_MEDIAN="" PAIR_RANGE=""
FLOOR_MEDIAN="" FLOOR_RANGE="" OF_FLOOR_MEDIAN=""
PAIR_LINES=()

for DB in $DBS; do
  say ""
  say "== $DB =="
  # ---- fresh database and seed ---------------------------------------------
  fresh_database "$DB" navigator_bench
  OUT=$WORK/$DB
  "$SEED" --patients "$PATIENTS" --out "$OUT" | tee "$WORK/seed-$DB.txt"
  SEEDLINE[$DB]=$(tail -1 "$OUT/seed.txt")
  # The kernel writes the seed's dirty pages back up to 30 s later, which
  # would land in the first scenarios: write them now.
  sync
  TOKEN=$("$BIN" token --role admin --sub bench)
  FIRST_ID=$(head -1 "$OUT/patient_ids.txt")
  DEEP_CURSOR=$(cat "$OUT/deep_cursor.txt")
  DEEP_ID=$(cat "$OUT/deep_id.txt")

  # ---- serve -----------------------------------------------------------------
  "$BIN" serve --addr "127.0.0.1:$PORT" --max-connections "$POOL" >"$WORK/server-$DB.log" 2>&1 &
  SERVER_PID=$!
  wait_until_answering "http://127.0.0.1:$PORT/health" "$SERVER_PID" "$WORK/server-$DB.log"
  sleep 1
  IDLE[$DB]=$(rss_kb "$SERVER_PID")
  say "idle RSS after start: $(mb "${IDLE[$DB]}") MB"
  echo 0 >"$WORK/peak-$DB"
  (
    peak=0
    while kill -0 "$SERVER_PID" 2>/dev/null; do
      rss=$(rss_kb "$SERVER_PID" 2>/dev/null || echo 0)
      if [ "${rss:-0}" -gt "$peak" ]; then peak=$rss; echo "$peak" >"$WORK/peak-$DB"; fi
      sleep 0.1
    done
  ) &
  SAMPLER_PID=$!
  warm_up "$PORT" "$TOKEN" "$OUT/patient_ids.txt"

  # ---- scenarios -------------------------------------------------------------
  scenario get "GET patient by id" get_by_id.lua "/" BENCH_IDS="$OUT/patient_ids.txt"
  # The same read of a record that is not personal data, so not written to
  # the access log: the difference prices the access log on the read path.
  scenario getnolog "GET practitioner by id (no access log)" get_by_id.lua "/" \
    BENCH_IDS="$OUT/practitioner_ids.txt" BENCH_COLLECTION=practitioners
  scenario list "list patients (status=lead, 50)" static.lua "/v1/patients?status=lead&limit=50"
  scenario deep "deep page (cursor at 90%)" static.lua "/v1/patients?status=lead&limit=50&cursor=$DEEP_CURSOR"
  scenario patch "PATCH patient with If-Match" patch.lua "/" BENCH_IDS="$OUT/patch_ids.txt"
  scenario create "POST patient (create)" post.lua "/" BENCH_PATH=/v1/patients BENCH_RUN="c$(date +%s%N)"

  # The two endpoints being built: probe first; 404/405 (or an ignored
  # include) means not there yet.
  probe=$(curl -s -o "$WORK/probe.json" -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/v1/intake-submissions" \
    -H 'Content-Type: application/json' \
    -d "{\"channel\":\"contact_form\",\"first_name\":\"Ann\",\"last_name\":\"Lee\",\"email\":\"bench-probe-$(date +%s%N)@example.org\",\"medical_condition\":\"Glioblastoma\",\"requested_call_at\":\"2030-01-15T10:00:00Z\"}")
  case "$probe" in
    2??) scenario intake "POST intake submission (public)" post.lua "/" BENCH_TOKEN= BENCH_INTAKE=1 \
      BENCH_PATH=/v1/intake-submissions BENCH_RUN="i$(date +%s%N)" ;;
    404 | 405) not_available intake "POST intake submission (public)" "$probe" ;;
    *) not_available intake "POST intake submission (public)" "probe answered $probe: $(head -c 300 "$WORK/probe.json")" ;;
  esac
  INCLUDE="?include=calls,submissions,referrals,enrollments,physician"
  probe=$(curl -s -o "$WORK/probe.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    "http://127.0.0.1:$PORT/v1/patients/$FIRST_ID$INCLUDE")
  if [[ "$probe" == 2?? ]] && grep -q '"calls"' "$WORK/probe.json"; then
    scenario include "GET patient page (include=...)" get_by_id.lua "/" BENCH_IDS="$OUT/patient_ids.txt" BENCH_SUFFIX="$INCLUDE"
  elif [[ "$probe" == 2?? ]]; then
    not_available include "GET patient page (include=...)" "200 without the included records"
  else
    not_available include "GET patient page (include=...)" "$probe"
  fi

  kill "$SAMPLER_PID" 2>/dev/null || true
  wait "$SAMPLER_PID" 2>/dev/null || true
  SAMPLER_PID=""
  PEAK[$DB]=$(cat "$WORK/peak-$DB")
  say "peak RSS under load (sampled every 100 ms): $(mb "${PEAK[$DB]}") MB"

  # ---- query plans of the list pages -------------------------------------------
  if [ "$DB" = postgres ]; then
    PLANS[$DB]=$(psql "$PG_URL" -qAt \
      -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT * FROM patients WHERE status = 'lead' ORDER BY id LIMIT 51" \
      -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT * FROM patients WHERE status = 'lead' AND id > '$DEEP_ID' ORDER BY id LIMIT 51")
  else
    PLANS[$DB]=$(python3 - "$WORK/navigator_bench.db" "$DEEP_ID" <<'EOF'
import sqlite3, sys, uuid
db = sqlite3.connect(sys.argv[1])
deep = uuid.UUID(sys.argv[2]).bytes  # sqlx stores uuids as 16-byte blobs in SQLite
for sql, args in [
    ("SELECT * FROM patients WHERE status = 'lead' ORDER BY id LIMIT 51", ()),
    ("SELECT * FROM patients WHERE status = 'lead' AND id > ? ORDER BY id LIMIT 51", (deep,)),
]:
    print(sql)
    for row in db.execute("EXPLAIN QUERY PLAN " + sql, args):
        print("  ", row[-1])
EOF
)
  fi

  # ---- pgbench: the same primary-key read, straight to PostgreSQL -----------
  if [ "$DB" = postgres ] && [ -n "$PGBENCH" ]; then
    # A bench-only copy of patients keyed by n = 1..N (same rows, same
    # columns), so pgbench can pick a random row with \set: one primary-key
    # lookup returning one row, as GET /v1/patients/{id} does.
    COLUMNS=$(psql "$PG_URL" -Atc "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'patients'")
    PGOPTIONS="-c client_min_messages=warning" psql "$PG_URL" -q -c "DROP TABLE IF EXISTS bench_patients" \
      -c "CREATE TABLE bench_patients AS SELECT row_number() OVER (ORDER BY id) AS n, $COLUMNS FROM patients" \
      -c "ALTER TABLE bench_patients ADD PRIMARY KEY (n)" -c "VACUUM ANALYZE bench_patients" -c "CHECKPOINT"
    ROWS=$(psql "$PG_URL" -Atc "SELECT count(*) FROM bench_patients")
    printf '\\set n random(1, %s)\nSELECT %s FROM bench_patients WHERE n = :n;\n' "$ROWS" "$COLUMNS" >"$WORK/pgbench.sql"
    # pgbench_run PGBENCH-ARGS...: runs the script; sets out (its output),
    # tps, and the machine's and PostgreSQL's CPU per select (busy_us, pg_us).
    pgbench_run() {
      local busy_before pg_before tx
      busy_before=$(busy_ticks) pg_before=$(pg_ticks)
      out=$("$PGBENCH" -n "$@" -j "$THREADS" -T "$DURATION" -f "$WORK/pgbench.sql" "$PG_URL" 2>&1)
      tx=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' <<<"$out")
      tps=$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' <<<"$out")
      busy_us=$(per_op $(($(busy_ticks) - busy_before)) "$tx")
      pg_us=$(per_op $(($(pg_ticks) - pg_before)) "$tx")
    }
    for mode in prepared simple; do
      pgbench_run -M "$mode" -c "$CONNECTIONS"
      PGB_BUSY[$mode]=$busy_us PGB_PG[$mode]=$pg_us
      PGB_TPS[$mode]=$tps
      PGB_LAT[$mode]=$(sed -nE 's/^latency average = ([0-9.]+) ms/\1/p' <<<"$out")
      say "$(printf '%-9s %-34s %9.0f tx/s   latency average %s ms' postgres "pgbench -M $mode (same PK read)" "${PGB_TPS[$mode]}" "${PGB_LAT[$mode]}")"
    done
    # PostgreSQL's CPU per select depends on the rate: below saturation its
    # backends sleep between queries, and each query pays a wake-up. So the
    # price of the server's own select is compared with pgbench's at the
    # unlogged GET's rate and with as many connections as the server's pool.
    if [ -n "${RPS[postgres/getnolog]:-}" ]; then
      MATCHED_RATE=$(printf '%.0f' "${RPS[postgres/getnolog]}")
      pgbench_run -M prepared -R "$MATCHED_RATE" -c "$POOL"
      MATCHED_PG=$pg_us
      say "$(printf '%-9s %-34s %9s tx/s   PostgreSQL CPU %s us/select (our GET practitioner: %s)' postgres "pgbench -M prepared -R, $POOL clients" "$MATCHED_RATE" "$MATCHED_PG" "${PGCPU[postgres/getnolog]}")"
    fi
    for mode in prepared simple; do
      say "GET by id on PostgreSQL = $(percent "${RPS[postgres/get]:-0}" "${PGB_TPS[$mode]}")% of pgbench -M $mode"
    done
    # The target's ratio, measured in pairs: this shared machine's speed
    # drifts by a third within minutes (pgbench -M prepared: 27,218 to
    # 39,077 tx/s in one afternoon), so a GET run and a pgbench run minutes
    # apart compare the machine's moods as much as the two programs. Each
    # pair runs both back to back, in alternating order (a drift in one
    # direction does not favour either), and the target is judged on the
    # median of the pairs' ratios.
    # Each pair also runs the floor (examples/floor.rs): the same read over
    # HTTP on the same runtime, server and driver, with nothing else (no
    # token, access log, middleware or JSON of the row). What it reaches
    # is what this machine leaves any server built on them; the GET's
    # share of it is what Navigator's own work costs.
    FLOOR_PORT=$((PORT + 1))
    "$FLOOR" --database-url "$PG_URL" --addr "127.0.0.1:$FLOOR_PORT" --max-connections "$POOL" \
      >"$WORK/floor.log" 2>&1 &
    FLOOR_PID=$!
    wait_until_answering "http://127.0.0.1:$FLOOR_PORT/v1/patients/$FIRST_ID" "$FLOOR_PID" "$WORK/floor.log"
    warm_up "$FLOOR_PORT" "" "$OUT/patient_ids.txt"
    PAIR_LINES=() PAIR_PCTS=() FLOOR_PCTS=() OF_FLOOR_PCTS=()
    pair_get() { scenario "pair$i" "GET patient by id (pair $i)" get_by_id.lua "/" BENCH_IDS="$OUT/patient_ids.txt"; }
    pair_floor() {
      PORT=$FLOOR_PORT SERVER_PID=$FLOOR_PID scenario "floor$i" "floor: bare GET by id (pair $i)" get_by_id.lua "/" \
        BENCH_TOKEN= BENCH_IDS="$OUT/patient_ids.txt"
    }
    for i in $(seq "$PAIRS"); do
      if [ $((i % 2)) = 1 ]; then
        order="GET, pgbench, floor"
        pair_get
        pgbench_run -M prepared -c "$CONNECTIONS"
        pair_floor
      else
        order="floor, pgbench, GET"
        pair_floor
        pgbench_run -M prepared -c "$CONNECTIONS"
        pair_get
      fi
      pct=$(percent "${RPS[postgres/pair$i]:-0}" "${tps:-0}")
      [ "${ERRS[postgres/pair$i]:-1}" = 0 ] || pct=0.0
      floor_pct=$(percent "${RPS[postgres/floor$i]:-0}" "${tps:-0}")
      [ "${ERRS[postgres/floor$i]:-1}" = 0 ] || floor_pct=0.0
      of_floor=$(percent "${RPS[postgres/pair$i]:-0}" "${RPS[postgres/floor$i]:-0}")
      PAIR_PCTS+=("$pct") FLOOR_PCTS+=("$floor_pct") OF_FLOOR_PCTS+=("$of_floor")
      PAIR_LINES+=("| $i | $order | $(printf '%.0f' "${RPS[postgres/pair$i]:-0}") | ${P99[postgres/pair$i]:-n/a} | ${ERRS[postgres/pair$i]:-n/a} | $(printf '%.0f' "${tps:-0}") | $pct% | ${CPU[postgres/pair$i]:-n/a} | $(printf '%.0f' "${RPS[postgres/floor$i]:-0}") | ${ERRS[postgres/floor$i]:-n/a} | $floor_pct% | ${CPU[postgres/floor$i]:-n/a} | $of_floor% |")
      say "$(printf '%-9s %-34s %9.0f tx/s   GET by id = %s%% of it, the floor %s%%' postgres "pgbench -M prepared (pair $i)" "${tps:-0}" "$pct" "$floor_pct")"
    done
    kill "$FLOOR_PID"
    wait "$FLOOR_PID" 2>/dev/null || true
    FLOOR_PID=""
    PAIR_MEDIAN=$(median "${PAIR_PCTS[@]}") PAIR_RANGE=$(range "${PAIR_PCTS[@]}")
    FLOOR_MEDIAN=$(median "${FLOOR_PCTS[@]}") FLOOR_RANGE=$(range "${FLOOR_PCTS[@]}")
    OF_FLOOR_MEDIAN=$(median "${OF_FLOOR_PCTS[@]}")
    say "GET by id on PostgreSQL = $PAIR_MEDIAN% of pgbench -M prepared (median of $PAIRS back-to-back pairs; pairs $PAIR_RANGE)"
    say "the floor (bare GET by id) = $FLOOR_MEDIAN% of pgbench -M prepared (pairs $FLOOR_RANGE); GET by id = $OF_FLOOR_MEDIAN% of the floor"
  fi

  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
done

# ---- cold start (SQLite, already migrated) -----------------------------------
if [[ " $DBS " == *" sqlite "* ]]; then
  export DATABASE_URL="sqlite://$WORK/navigator_bench.db"
  TOKEN=$("$BIN" token --role admin --sub bench)
  cold=$(python3 bench/coldstart.py --bin "$BIN" --port "$PORT" --runs 10 --token "$TOKEN" \
    --patient-id "$(head -1 "$WORK/sqlite/patient_ids.txt")")
  COLD_HEALTH=$(sed -nE 's/^COLD health median_ms=([0-9.]+).*/\1/p' <<<"$cold")
  COLD_PATIENT=$(sed -nE 's/^COLD patient median_ms=([0-9.]+).*/\1/p' <<<"$cold")
  say ""
  say "cold start to first 200, median of 10 (SQLite, migrated, $PATIENTS patients):"
  say "  GET /health            $(sed -nE 's/^COLD health //p' <<<"$cold")"
  say "  GET /v1/patients/{id}  $(sed -nE 's/^COLD patient //p' <<<"$cold")"
fi

# ---- Lambda init duration: measured by scripts/lambda-check.sh -----------------
LAMBDA_COLD=""
# That script owns the emulator logic; it also builds the zip, the musl
# binary and the image (minutes), so it runs only with --lambda.
if [ ! -f scripts/lambda-check.sh ]; then
  LAMBDA_LINE="n/a: scripts/lambda-check.sh is not there yet"
elif [ "$LAMBDA" = 1 ]; then
  lambda_out=$(timeout 1800 bash scripts/lambda-check.sh 2>&1) || true
  echo "$lambda_out" >"$WORK/lambda-check.log"
  LAMBDA_COLD=$(sed -nE 's/^LAMBDA_COLD median_ms=([0-9.]+).*/\1/p' "$WORK/lambda-check.log")
  if [ -n "$LAMBDA_COLD" ]; then
    LAMBDA_LINE="median $(sed -nE 's/^LAMBDA_COLD median_ms=([0-9.]+) min_ms=([0-9.]+) max_ms=([0-9.]+) runs=([0-9]+)/\1 ms (min \2, max \3) of \4 cold starts/p' "$WORK/lambda-check.log"), each from starting the zip's bootstrap to GET /health's 200 through the emulator's function URL: an upper bound on the init duration, which the emulator does not report"
  else
    LAMBDA_LINE="n/a: scripts/lambda-check.sh printed no cold starts (see $WORK/lambda-check.log)"
  fi
else
  LAMBDA_LINE="n/a here: run bench/run.sh --lambda, or scripts/lambda-check.sh, whose section b times the zip's bootstrap under the emulator"
fi
say ""
say "Lambda init duration (emulator): $LAMBDA_LINE"

# ---- sizes -------------------------------------------------------------------
BIN_BYTES=$(stat -c %s "$BIN")
ZIP=target/lambda/navigator/bootstrap.zip
if [ -f "$ZIP" ]; then ZIP_BYTES=$(stat -c %s "$ZIP"); else ZIP_BYTES=""; fi
# Sizes in MB (10^6 bytes), as scripts/lambda-check.sh counts its limit.
size_mb() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1e6 }'; }
say "stripped release binary: $(size_mb "$BIN_BYTES") MB ($BIN_BYTES bytes)"
if [ -n "$ZIP_BYTES" ]; then
  say "Lambda zip $ZIP: $(size_mb "$ZIP_BYTES") MB ($ZIP_BYTES bytes)"
else
  say "Lambda zip: n/a (make it with: cargo lambda build --release --output-format zip)"
fi

# ---- results file -------------------------------------------------------------
{
  echo "# Navigator benchmark results"
  echo
  echo "Made by \`bench/run.sh${ARGS:+ $ARGS}\` (see [bench/README.md](../README.md))."
  echo
  echo "| | |"
  echo "| --- | --- |"
  echo "| date | $DATE |"
  echo "| commit | $COMMIT |"
  echo "| CPUs | $(nproc) × $MODEL |"
  echo "| memory | $MEM |"
  echo "| kernel | Linux $(uname -r) |"
  echo "| PostgreSQL | $PGVERSION |"
  echo "| load average (1, 5, 15 min) | $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (the machine is shared: anything else running skews the figures) |"
  echo "| load | wrk, $THREADS threads, $CONNECTIONS connections, $DURATION s per scenario, 127.0.0.1 |"
  echo "| data | $PATIENTS patients (see each database's seed line) |"
  for DB in $DBS; do
    echo
    echo "## $DB"
    echo
    echo "Seed: ${SEEDLINE[$DB]}"
    echo
    echo "| scenario | req/s | p50 ms | p99 ms | errors | CPU µs/req: server | PostgreSQL | machine |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for key in get getnolog list deep patch create intake include; do
      line=${LINE[$DB/$key]:-}
      label=$(cut -c11-44 <<<"$line" | sed 's/ *$//')
      if [ -n "${RPS[$DB/$key]:-}" ]; then
        echo "| $label | $(printf '%.0f' "${RPS[$DB/$key]}") | ${P50[$DB/$key]} | ${P99[$DB/$key]} | ${ERRS[$DB/$key]} | ${CPU[$DB/$key]} | ${PGCPU[$DB/$key]} | ${BUSY[$DB/$key]} |"
      else
        echo "| $label | $(cut -c45- <<<"$line") | | | | | | |"
      fi
    done
    if [ -n "${RPS[$DB/get]:-}" ] && [ -n "${RPS[$DB/getnolog]:-}" ]; then
      echo
      echo "Access log on the read path: GET patient (logged) vs GET practitioner (not logged): $(percent "${RPS[$DB/get]}" "${RPS[$DB/getnolog]}")% of the throughput, ${CPU[$DB/get]} vs ${CPU[$DB/getnolog]} µs of server CPU per request$([ "$DB" = postgres ] && echo ", ${PGCPU[$DB/get]} vs ${PGCPU[$DB/getnolog]} µs of PostgreSQL's")."
    fi
    echo
    echo "RSS: $(mb "${IDLE[$DB]}") MB idle after start, $(mb "${PEAK[$DB]}") MB peak under load (VmRSS every 100 ms)."
    if [ "$DB" = postgres ] && [ -n "${PGB_TPS[prepared]:-}" ]; then
      echo
      echo "| pgbench (same PK read, $CONNECTIONS clients, $THREADS threads) | tx/s | latency avg ms | CPU µs/select: PostgreSQL | machine | the GET scenario's rate as % |"
      echo "| --- | ---: | ---: | ---: | ---: | ---: |"
      for mode in prepared simple; do
        echo "| -M $mode | $(printf '%.0f' "${PGB_TPS[$mode]}") | ${PGB_LAT[$mode]} | ${PGB_PG[$mode]} | ${PGB_BUSY[$mode]} | $(percent "${RPS[postgres/get]:-0}" "${PGB_TPS[$mode]}")% |"
      done
      if [ -n "${BUSY[postgres/get]:-}" ]; then
        # Both runs keep the 2 cores busy, so their rates are in inverse
        # ratio to the machine's CPU per operation: the budget of the target.
        echo
        awk -v b="${BUSY[postgres/get]}" -v s="${CPU[postgres/get]}" -v p="${PGCPU[postgres/get]}" \
          -v y="${PGB_BUSY[prepared]}" -v bn="${BUSY[postgres/getnolog]:-0}" -v sn="${CPU[postgres/getnolog]:-0}" \
          -v pn="${PGCPU[postgres/getnolog]:-0}" 'BEGIN {
          printf "What 50%% of pgbench -M prepared would take: at half its rate, a request may cost the machine %d µs of CPU (twice pgbench'\''s %d per select). ", 2 * y, y
          printf "GET by id cost %d: the server %d, PostgreSQL %d (the read and its access-log rows), the rest %d (wrk, and kernel work charged to no process). ", b, s, p, b - s - p
          printf "With PostgreSQL and the rest as measured, the server would have %d µs per request (but their shares fall as the rate rises: see the floor below). ", 2 * y - p - (b - s - p)
          if (bn > 0) printf "Without the access log (GET practitioner): the machine %d, the server %d, PostgreSQL %d, the rest %d; the server would have %d µs.", bn, sn, pn, bn - sn - pn, 2 * y - pn - (bn - sn - pn)
          print "" }'
        if [ -n "$MATCHED_PG" ]; then
          echo
          echo "PostgreSQL's CPU per select grows as the rate falls (below saturation its backends sleep between queries, and each query pays a wake-up), so its cost per GET above cannot be set against its cost per select at pgbench's full speed. Held at the unlogged GET's rate ($MATCHED_RATE/s) with the server's $POOL connections, pgbench's select cost PostgreSQL $MATCHED_PG µs; the unlogged GET cost it ${PGCPU[postgres/getnolog]:-n/a}. The difference is what the server's way of querying costs PostgreSQL beyond pgbench's."
        fi
      fi
    fi
    if [ "$DB" = postgres ] && [ -n "$PAIR_MEDIAN" ]; then
      echo
      echo "GET by id against pgbench -M prepared, back to back: the machine's speed drifts within minutes (compare the pgbench rates below), so the target is judged on pairs of runs made one right after the other, in alternating order, $DURATION s each: **median $PAIR_MEDIAN%** of $PAIRS pairs (range $PAIR_RANGE)."
      echo
      echo "The floor (\`examples/floor.rs\`) serves the same read over HTTP with the same runtime, HTTP server and database driver, and nothing else: no token, no access log, no middleware, no JSON of the row. It reached **median $FLOOR_MEDIAN%** of pgbench (range $FLOOR_RANGE): what this machine, with the load tool on it, leaves a server built on these crates. Navigator's GET reached median $OF_FLOOR_MEDIAN% of the floor: the rest is its own work per request."
      echo
      echo "| pair | order | GET req/s | GET p99 ms | GET errors | pgbench tx/s | GET as % | GET server µs/req | floor req/s | floor errors | floor as % | floor server µs/req | GET as % of floor |"
      echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
      printf '%s\n' "${PAIR_LINES[@]}"
    fi
    echo
    echo "<details><summary>Query plans of the list pages</summary>"
    echo
    echo '```'
    echo "${PLANS[$DB]}"
    echo '```'
    echo "</details>"
  done
  echo
  echo "## Start, memory, size"
  echo
  echo "- Cold start to first 200 (median of 10, SQLite, migrated): GET /health ${COLD_HEALTH:-n/a} ms, GET /v1/patients/{id} ${COLD_PATIENT:-n/a} ms"
  echo "- Lambda init duration (emulator): $LAMBDA_LINE"
  echo "- Stripped release binary: $(size_mb "$BIN_BYTES") MB"
  echo "- Lambda zip: $([ -n "$ZIP_BYTES" ] && echo "$(size_mb "$ZIP_BYTES") MB" || echo "n/a (cargo lambda build --release --output-format zip)")"
  echo
  echo "## Targets"
  echo
  echo "| target | measured | |"
  echo "| --- | --- | --- |"
  if [ -n "$PAIR_MEDIAN" ]; then
    echo "| GET by id on PostgreSQL ≥ 50% of pgbench -M prepared (median of $PAIRS back-to-back pairs) | $PAIR_MEDIAN% (pairs $PAIR_RANGE) | $(pass_if "$PAIR_MEDIAN" ">=" 50) |"
  fi
  if [ -n "${P99[postgres/get]:-}" ]; then
    echo "| GET by id on PostgreSQL p99 < 10 ms | ${P99[postgres/get]} ms | $(pass_if "${P99[postgres/get]}" "<" 10) |"
  fi
  if [ -n "${RPS[postgres/list]:-}" ]; then
    echo "| list page of 50 with filter on PostgreSQL ≥ 2,500 req/s | $(printf '%.0f' "${RPS[postgres/list]}") req/s | $(pass_if "${RPS[postgres/list]}" ">=" 2500) |"
  fi
  for DB in $DBS; do
    if [ -n "${RPS[$DB/create]:-}" ]; then
      echo "| create ≥ 2,000 req/s ($DB) | $(printf '%.0f' "${RPS[$DB/create]}") req/s | $(pass_if "${RPS[$DB/create]}" ">=" 2000) |"
    fi
  done
  for DB in $DBS; do
    if [ -n "${P50[$DB/deep]:-}" ] && [ -n "${P50[$DB/list]:-}" ]; then
      ratio=$(awk -v d="${P50[$DB/deep]}" -v f="${P50[$DB/list]}" 'BEGIN { printf "%.2f", d / f }')
      if [ "$PATIENTS" -ge 1000000 ]; then verdict=$(pass_if "$ratio" "<=" 1.5); else verdict="not judged (judged at 1,000,000 patients)"; fi
      echo "| deep page p50 ≤ 1.5 × first page p50 ($DB) | ${ratio}× | $verdict |"
    fi
  done
  if [ -n "$LAMBDA_COLD" ]; then
    echo "| Lambda init under the emulator < 30 ms (median cold start to first 200, an upper bound) | $LAMBDA_COLD ms | $(pass_if "$LAMBDA_COLD" "<" 30) |"
  else
    echo "| Lambda init under the emulator < 30 ms | n/a (bench/run.sh --lambda) | not judged |"
  fi
  if [ -n "$COLD_HEALTH" ]; then
    echo "| cold start to first 200 < 25 ms (/health) | $COLD_HEALTH ms | $(pass_if "$COLD_HEALTH" "<" 25) |"
    echo "| cold start to first 200 < 25 ms (/v1/patients/{id}) | $COLD_PATIENT ms | $(pass_if "$COLD_PATIENT" "<" 25) |"
  fi
  for DB in $DBS; do
    echo "| RSS idle < 20 MB ($DB) | $(mb "${IDLE[$DB]}") MB | $(pass_if "${IDLE[$DB]}" "<" 19531.25) |"
    echo "| RSS under load < 40 MB ($DB) | $(mb "${PEAK[$DB]}") MB | $(pass_if "${PEAK[$DB]}" "<" 39062.5) |"
  done
  echo "| binary <= 20 MB | $(size_mb "$BIN_BYTES") MB | $(pass_if "$BIN_BYTES" "<=" 20000000) |"
  if [ -n "$ZIP_BYTES" ]; then
    echo "| Lambda zip <= 8 MB | $(size_mb "$ZIP_BYTES") MB | $(pass_if "$ZIP_BYTES" "<=" 8000000) |"
  else
    echo "| Lambda zip < 15 MB | n/a | not judged |"
  fi
  for DB in $DBS; do
    for key in get getnolog list deep patch create intake include $(seq -f 'pair%g' "$PAIRS"); do
      if [ -z "${ERRS[$DB/$key]:-}" ]; then continue; fi
      echo "| no errors: $(cut -c11-44 <<<"${LINE[$DB/$key]}" | sed 's/ *$//') ($DB) | ${ERRS[$DB/$key]} | $([ "${ERRS[$DB/$key]}" = 0 ] && echo PASS || echo MISS) |"
    done
  done
} >"$RESULTS"

echo
echo "---- $RESULTS ----"
cat "$RESULTS"
