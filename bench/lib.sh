# Shared by bench/run.sh, bench/profile.sh and bench/instructions.sh (sourced): installing the
# tools, waiting for a server, the unrecorded warm-up before a load, and a
# fresh database.

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

# fresh_database DB NAME: an empty database for DB (sqlite or postgres),
# exported as DATABASE_URL: the file $WORK/NAME.db, or the PostgreSQL
# database NAME, dropped and created through PG_ADMIN_URL and reached at
# PG_URL. Uses WORK, PG_ADMIN_URL, PG_URL.
fresh_database() {
  if [ "$1" = sqlite ]; then
    rm -f "$WORK/$2.db" "$WORK/$2.db-wal" "$WORK/$2.db-shm"
    DATABASE_URL="sqlite://$WORK/$2.db"
  else
    PGOPTIONS="-c client_min_messages=warning" psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $2" -c "CREATE DATABASE $2"
    DATABASE_URL=$PG_URL
  fi
  export DATABASE_URL
}
