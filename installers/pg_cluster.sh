#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests and benchmarks: 127.0.0.1 only, a non-default port,
# trust authentication (local test use only), fsync on. Idempotent.
#   installers/pg_cluster.sh start     create (if needed) and start it; prints its URL
#   installers/pg_cluster.sh url       prints the URL
#   installers/pg_cluster.sh restart   restarts the server (tests of connection loss)
#   installers/pg_cluster.sh stop      stops it and removes its data directory
# The URL connects as `faultline`, an ordinary role (not a superuser, so row-level security
# applies to it) that may create databases: each test makes its own.
# Environment: FAULTLINE_PG_PORT (default 55432), FAULTLINE_PG_DIR (default
# /tmp/faultline-pg-<port>), FAULTLINE_PG_BIN (default /usr/lib/postgresql/15/bin).
set -euo pipefail
port=${FAULTLINE_PG_PORT:-55432}
dir=${FAULTLINE_PG_DIR:-/tmp/faultline-pg-$port}
pgbin=${FAULTLINE_PG_BIN:-/usr/lib/postgresql/15/bin}
data="$dir/data"
url="postgresql://faultline@127.0.0.1:$port/faultline"

# initdb and postgres refuse to run as root: CI runs as root, so the server runs as `postgres`.
if [ "$(id -u)" -eq 0 ]; then
  as_server=(runuser -u postgres --)
  server_user=postgres
else
  as_server=()
  server_user=$(id -un)
fi

running() {
  [ -f "$data/PG_VERSION" ] && "${as_server[@]}" "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

psql_admin() {
  "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres "$@"
}

start() {
  if [ ! -x "$pgbin/initdb" ]; then
    echo "pg_cluster: $pgbin/initdb not found; run installers/deps.sh (postgresql-15)" >&2
    exit 1
  fi
  if ! running; then
    if [ ! -f "$data/PG_VERSION" ]; then
      rm -rf "$dir"
      mkdir -p "$dir"
      chmod 0700 "$dir"
      chown "$server_user" "$dir"
      "${as_server[@]}" "$pgbin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
        --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
      cat >>"$data/postgresql.conf" <<EOF
# faultline throwaway test cluster
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = on
synchronous_commit = on
max_connections = 200
EOF
    fi
    "${as_server[@]}" "$pgbin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
      { tail -20 "$dir/server.log" >&2; exit 1; }
  fi
  psql_admin <<'SQL'
SELECT 'CREATE ROLE faultline LOGIN CREATEDB'
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'faultline') \gexec
SELECT 'CREATE DATABASE faultline OWNER faultline'
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'faultline') \gexec
SQL
  echo "$url"
}

stop() {
  if running; then
    "${as_server[@]}" "$pgbin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) echo "$url" ;;
  restart)
    running || { echo "pg_cluster: not running" >&2; exit 1; }
    "${as_server[@]}" "$pgbin/pg_ctl" -D "$data" -l "$dir/server.log" -m fast -w -t 60 \
      restart >/dev/null
    ;;
  *)
    echo "usage: $0 start|stop|url|restart" >&2
    exit 2
    ;;
esac
