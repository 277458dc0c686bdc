# Shared by bench/run.sh and bench/profile.sh (sourced): installing the
# tools, waiting for a server, and the unrecorded warm-up before a load.

# need COMMAND DEBIAN-PACKAGE: installs the package if the command is missing.
need() {
  command -v "$1" >/dev/null && return 0
  echo "installing $2"
  { apt-get update -qq && apt-get install -y -qq "$2"; } >/dev/null
}

# wait_until_answering URL PID LOG: until URL answers 2xx; gives up (with
# the end of LOG) when the process PID ends or after 30 s.
wait_until_answering() {
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  echo "$1 did not answer; the server's log:" >&2
  tail -20 "$3" >&2
  exit 1
}

# warm_up PORT TOKEN IDS-FILE: 2 s of GET by id, unrecorded, so that the
# pool opens its connections and prepares its statements first (pgbench's
# figures, too, leave out its connection time). Uses THREADS, CONNECTIONS.
warm_up() {
  env BENCH_TOKEN="$2" BENCH_IDS="$3" wrk -t"$THREADS" -c"$CONNECTIONS" -d2s \
    -s bench/lua/get_by_id.lua "http://127.0.0.1:$1/" >/dev/null 2>&1 || true
}
