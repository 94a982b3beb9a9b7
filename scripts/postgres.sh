#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the tests, on a free loopback
# port, in a temporary directory; prints `export` lines for its admin URL
# and the PID file. Stop it with: scripts/postgres.sh stop <dir>.
# Installs Debian's postgresql when it is missing.
set -euo pipefail

pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  return 1
}

as_db_user() {
  # initdb and postgres refuse to run as root.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-}" = stop ]; then
  dir=$2
  bin=$(pg_bin)
  as_db_user "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  exit 0
fi

if ! bin=$(pg_bin); then
  echo "postgres.sh: installing Debian's postgresql" >&2
  apt-get install -y postgresql >&2
  bin=$(pg_bin)
fi

dir=$(mktemp -d /tmp/nexus-test-pg.XXXXXX)
chmod 755 "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_db_user "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
# fsync off by default: the tests kill Nexus, never PostgreSQL, and this
# keeps them fast. Benchmarks that compare durability set NEXUS_PG_FSYNC=on.
fsync=${NEXUS_PG_FSYNC:-off}
as_db_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=$fsync -c max_connections=300" start >/dev/null
echo "export NEXUS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/postgres"
echo "export NEXUS_TEST_POSTGRES_DIR=$dir"
