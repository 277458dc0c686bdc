#!/usr/bin/env bash
# Where the server's CPU goes in one scenario: builds the server with
# symbols (cargo profile `profiling`), seeds a database, serves it, loads it
# with wrk on 127.0.0.1 and samples the server with perf while it does;
# prints the split between the kernel, the server's code and the libraries,
# and the functions that take most samples. See bench/README.md.
#
#   bench/profile.sh [--scenario get|getnolog|list|deep|patch|create|intake|include]
#                    [--db sqlite|postgres] [--patients N] [--duration S]
#                    [--connections C] [--port P] [--top K]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
. bench/lib.sh

SCENARIO=get
DB=postgres
PATIENTS=100000
DURATION=10
CONNECTIONS=32
THREADS=2
PORT=3918
TOP=30
# As in run.sh: the server's default pool.
POOL=8
PG_ADMIN_URL=${BENCH_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_URL=${BENCH_PG_PROFILE_URL:-postgres://postgres@127.0.0.1:5432/navigator_profile}
usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --scenario) SCENARIO=$2; shift 2 ;;
    --db) DB=$2; shift 2 ;;
    --patients) PATIENTS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --top) TOP=$2; shift 2 ;;
    -h | --help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage 2 ;;
  esac
done
case "$DB" in
  sqlite | postgres) ;;
  *) echo "--db must be sqlite or postgres" >&2; exit 2 ;;
esac
for n in "$PATIENTS" "$DURATION" "$CONNECTIONS" "$TOP"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "--patients, --duration, --connections and --top take whole numbers of at least 1" >&2; exit 2; }
done

WORK=$ROOT/target/bench/profile
OUT=$WORK/$DB
mkdir -p "$OUT"
export BENCH_DIR=$ROOT/bench BENCH_THREADS=$THREADS
NAVIGATOR_JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export NAVIGATOR_JWT_SECRET
export NAVIGATOR_INTAKE_BURST=1000000000 NAVIGATOR_INTAKE_PER_SECOND=1000000
unset NAVIGATOR_ADDR NAVIGATOR_DB_MAX_CONNECTIONS

# The scenario: wrk's script, the URL path, and the script's settings (the
# same loads as run.sh's scenarios of the same names).
case "$SCENARIO" in
  get) LOAD=(get_by_id.lua / BENCH_IDS="$OUT/patient_ids.txt") ;;
  getnolog) LOAD=(get_by_id.lua / BENCH_IDS="$OUT/practitioner_ids.txt" BENCH_COLLECTION=practitioners) ;;
  list) LOAD=(static.lua "/v1/patients?status=lead&limit=50") ;;
  deep) LOAD=(static.lua "/v1/patients?status=lead&limit=50&cursor=@DEEP@") ;;
  patch) LOAD=(patch.lua / BENCH_IDS="$OUT/patch_ids.txt") ;;
  create) LOAD=(post.lua / BENCH_PATH=/v1/patients BENCH_RUN="p$(date +%s%N)") ;;
  intake) LOAD=(post.lua / BENCH_TOKEN= BENCH_INTAKE=1 BENCH_PATH=/v1/intake-submissions BENCH_RUN="q$(date +%s%N)") ;;
  include) LOAD=(get_by_id.lua / BENCH_IDS="$OUT/patient_ids.txt" BENCH_SUFFIX="?include=calls,submissions,referrals,enrollments,physician") ;;
  *) echo "unknown scenario: $SCENARIO" >&2; usage 2 ;;
esac

need wrk wrk
need perf linux-perf

# Release settings (fat LTO, one codegen unit) with symbols and line
# tables kept: the functions perf names are the ones the release binary runs.
cargo build --profile profiling --bin navigator --example seed
BIN=$ROOT/target/profiling/navigator

fresh_database "$DB" navigator_profile
"$ROOT/target/profiling/examples/seed" --patients "$PATIENTS" --out "$OUT" | tail -1
sync
LOAD=("${LOAD[@]/@DEEP@/$(cat "$OUT/deep_cursor.txt")}")
TOKEN=$("$BIN" token --role admin --sub bench)

"$BIN" serve --addr "127.0.0.1:$PORT" --max-connections "$POOL" >"$WORK/server-$DB.log" 2>&1 &
SERVER_PID=$!
PERF_PID=""
cleanup() {
  [ -n "$PERF_PID" ] && kill "$PERF_PID" 2>/dev/null || true
  kill "$SERVER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
wait_until_answering "http://127.0.0.1:$PORT/health" "$SERVER_PID" "$WORK/server-$DB.log"

# Unsampled warm-up, as in run.sh (GET by id, whatever the scenario: a
# second load of a PATCH or create scenario would replay the first's
# versions or emails).
warm_up "$PORT" "$TOKEN" "$OUT/patient_ids.txt"

DATA=$WORK/perf-$DB-$SCENARIO.data
# Sampling stops a second before the load does, so that no sample falls
# after it. perf's own cost shows in the rate: compare rates with run.sh's.
perf record -F 999 -p "$SERVER_PID" -o "$DATA" -- sleep $((DURATION > 2 ? DURATION - 1 : 1)) >/dev/null 2>&1 &
PERF_PID=$!
result=$(env BENCH_TOKEN="$TOKEN" "${LOAD[@]:2}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" \
  --timeout 5s -s "bench/lua/${LOAD[0]}" "http://127.0.0.1:$PORT${LOAD[1]}" | grep '^RESULT' || true)
wait "$PERF_PID" || true
PERF_PID=""
[ -n "$result" ] || { echo "wrk printed no result" >&2; exit 1; }

echo
echo "== $SCENARIO on $DB ($PATIENTS patients, $CONNECTIONS connections, $DURATION s, sampled by perf at 999 Hz) =="
echo "$result" | sed -E 's/^RESULT /wrk: /'
echo
# Whole reports to files first: `head` closing a pipe would end perf with
# SIGPIPE, and pipefail the script.
perf report -i "$DATA" --no-children --sort dso --stdio >"$DATA.dso.txt" 2>/dev/null
perf report -i "$DATA" --no-children --sort dso,sym --stdio >"$DATA.sym.txt" 2>/dev/null
echo "-- samples by object (the kernel's share is the server's system calls and wake-ups)"
grep -E '^ +[0-9]' "$DATA.dso.txt" | sed -n "1,8p"
echo
echo "-- top $TOP functions in user space, by own samples (% of all the server's samples)"
grep -E '^ +[0-9]' "$DATA.sym.txt" | grep -v '\[k\]' | sed -n "1,${TOP}p" | cut -c1-180
echo
echo "samples: $DATA (explore with: perf report -i $DATA); these reports in full: $DATA.dso.txt, $DATA.sym.txt"
