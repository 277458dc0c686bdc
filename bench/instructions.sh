#!/usr/bin/env bash
# Instructions per GET patient by id, counted by callgrind: deterministic to
# a fraction of a percent where this machine's timings drift by a fifth, so
# it settles a change of a few percent in the server's own work. Builds with
# the `profiling` profile (the release code), seeds a database, then serves
# N/5 and N GETs under valgrind (4 keep-alive connections) and prints
# (instructions(N) - instructions(N/5)) / (4N/5): the cost of one more GET,
# start-up and connection set-up cancelled out. User-space instructions
# only, the log's writer thread included: not the kernel's work, nor
# PostgreSQL's. See bench/README.md.
#
#   bench/instructions.sh [--db postgres|sqlite] [--patients N] [--requests N]
#                         [--floor] [--port P]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
. bench/lib.sh

DB=postgres
PATIENTS=10000
REQUESTS=2500
FLOOR=0
PORT=3919
PG_ADMIN_URL=${BENCH_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_URL=${BENCH_PG_INSTRUCTIONS_URL:-postgres://postgres@127.0.0.1:5432/navigator_instructions}
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --db) DB=$2; shift 2 ;;
    --patients) PATIENTS=$2; shift 2 ;;
    --requests) REQUESTS=$2; shift 2 ;;
    --floor) FLOOR=1; shift ;;
    --port) PORT=$2; shift 2 ;;
    -h | --help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage 2 ;;
  esac
done
case "$DB" in
  sqlite | postgres) ;;
  *) echo "--db must be sqlite or postgres" >&2; exit 2 ;;
esac
for n in "$PATIENTS" "$REQUESTS" "$PORT"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "--patients, --requests and --port take whole numbers of at least 1" >&2; exit 2; }
done
[ "$REQUESTS" -ge 100 ] || { echo "--requests must be at least 100" >&2; exit 2; }
[ "$FLOOR" = 0 ] || [ "$DB" = postgres ] || { echo "--floor serves PostgreSQL only" >&2; exit 2; }

need valgrind valgrind
WORK=$ROOT/target/bench/instructions
OUT=$WORK/$DB
mkdir -p "$OUT"
NAVIGATOR_JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export NAVIGATOR_JWT_SECRET
unset NAVIGATOR_ADDR NAVIGATOR_DB_MAX_CONNECTIONS

cargo build --profile profiling --bin navigator --example seed --example floor
BIN=$ROOT/target/profiling/navigator

fresh_database "$DB" navigator_instructions
"$ROOT/target/profiling/examples/seed" --patients "$PATIENTS" --out "$OUT" | tail -1
TOKEN=$("$BIN" token --role admin --sub bench)

# count N: the instructions of serving N GETs, start to graceful stop.
count() {
  local n=$1 file=$OUT/callgrind.$1
  rm -f "$file"
  local server=("$BIN" serve --addr "127.0.0.1:$PORT" --max-connections 8)
  [ "$FLOOR" = 1 ] && server=("$ROOT/target/profiling/examples/floor" --addr "127.0.0.1:$PORT")
  valgrind --tool=callgrind --callgrind-out-file="$file" "${server[@]}" >"$OUT/server.$n.log" 2>&1 &
  local pid=$!
  python3 - "$PORT" "$TOKEN" "$OUT/patient_ids.txt" "$n" <<'EOF'
import http.client, sys, threading, time
port, token, ids_file, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
ids = open(ids_file).read().split()
headers = {"authorization": "Bearer " + token}
for _ in range(1200):  # up to 2 minutes for start-up under valgrind
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("GET", "/v1/patients/" + ids[0], headers=headers)
        c.getresponse().read()
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("the server did not answer")
failed = []
def worker(k):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for i in range(k, n, 4):
        c.request("GET", "/v1/patients/" + ids[i % len(ids)], headers=headers)
        r = c.getresponse()
        r.read()
        if r.status != 200:
            failed.append(r.status)
threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
for t in threads: t.start()
for t in threads: t.join()
if failed:
    sys.exit(f"{len(failed)} GETs failed, e.g. {failed[0]}")
EOF
  # TERM, not INT: a job started with & in a script ignores SIGINT, and the
  # floor installs no handler of its own.
  kill -TERM "$pid"
  wait "$pid" || true
  sed -nE 's/^(summary|totals): ([0-9]+).*/\2/p' "$file" | head -1
}

small=$((REQUESTS / 5))
first=$(count "$small")
second=$(count "$REQUESTS")
[ -n "$first" ] && [ -n "$second" ] || { echo "callgrind wrote no totals (see $OUT/server.*.log)" >&2; exit 1; }
what="GET patient by id on $DB"
[ "$FLOOR" = 1 ] && what="the floor's GET by id (examples/floor.rs)"
echo "$what: $(((second - first) / (REQUESTS - small))) instructions per request ($small and $REQUESTS requests: $first and $second)"
echo "callgrind files: $OUT/callgrind.$small, $OUT/callgrind.$REQUESTS (callgrind_annotate --inclusive=yes FILE)"
