#!/usr/bin/env bash
# The scale-out benchmark (docs/scale-out.md): concurrent sends (senders
# spread over the processes) and the long-poll wake (a sync on the first
# process woken by a send through the last) for 1, 2 and 3 `nexus serve`
# processes on one PostgreSQL and one Redis, beside the single binary on
# RocksDB. Release builds, loopback only; each measured loop stops after
# NEXUS_BENCH_DURATION seconds (default 20) or its request count. Rewrites
# the "Scale-out" section of docs/performance.md.
#   scripts/cluster-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nexus-target}"
export NEXUS_COMPLEMENT_TARGET_DIR="${NEXUS_COMPLEMENT_TARGET_DIR:-$HOME/.cache/nexus-complement-target}"
duration=${NEXUS_BENCH_DURATION:-20}
concurrency=${NEXUS_BENCH_CONCURRENCY:-64}
work=$(mktemp -d /tmp/nexus-cluster-bench.XXXXXX)
pids=()
redis_pid=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null || true
  [ -n "${NEXUS_TEST_POSTGRES_DIR:-}" ] && scripts/postgres.sh stop "$NEXUS_TEST_POSTGRES_DIR"
  rm -rf "$work"
}
trap cleanup EXIT

extra=()
command -v redis-server >/dev/null || extra+=(redis-server)
scripts/build-deps.sh "${extra[@]}"
echo "== building Nexus (release) and the load driver" >&2
cargo build --release --bin nexus
(cd complement-tests && CARGO_TARGET_DIR="$NEXUS_COMPLEMENT_TARGET_DIR" cargo build --release --bin nexus-bench)
nexus="$CARGO_TARGET_DIR/release/nexus"
bench="$NEXUS_COMPLEMENT_TARGET_DIR/release/nexus-bench"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() {
  for _ in $(seq 1 600); do curl -sf "$1/_matrix/client/versions" >/dev/null && return 0; sleep 0.2; done
  echo "cluster-bench.sh: $1 did not start; the logs end:" >&2
  tail -n 5 "$work"/*/nexus.log >&2
  return 1
}

eval "$(scripts/postgres.sh)"
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >/dev/null &
redis_pid=$!
admin_url=$NEXUS_TEST_POSTGRES_URL

# start <setup> <index> <server name> [env...]: one process, its URL in
# $started (not printed: a command substitution would lose its PID).
start() {
  local setup=$1 index=$2 name=$3; shift 3
  local port; port=$(free_port)
  mkdir -p "$work/$setup-$index"
  env NEXUS__SERVER__SERVER_NAME="$name" NEXUS__LISTENERS__CLIENT="127.0.0.1:$port" \
    NEXUS__STORAGE__PATH="$work/$setup-$index/data" NEXUS__REGISTRATION__ENABLED=true \
    NEXUS__RATE_LIMITS__LOGIN_PER_SECOND=100000 NEXUS__RATE_LIMITS__LOGIN_BURST=100000 \
    NEXUS__RATE_LIMITS__REGISTER_PER_SECOND=100000 NEXUS__RATE_LIMITS__REGISTER_BURST=100000 \
    NEXUS__RATE_LIMITS__MESSAGE_PER_SECOND=100000 NEXUS__RATE_LIMITS__MESSAGE_BURST=100000 \
    NEXUS__BOT_API__ENABLED=false NEXUS__SFU__ENABLED=false NEXUS__LOGGING__LEVEL=warn "$@" \
    "$nexus" serve > "$work/$setup-$index/nexus.log" 2>&1 &
  pids+=($!)
  started="http://127.0.0.1:$port"
}

# run <setup> <url> [also-url...]: the two workloads against these processes.
run() {
  local setup=$1 url=$2; shift 2
  local also=()
  for other in "$@"; do also+=(--also-url "$other"); done
  for url_ in "$url" "$@"; do wait_for "$url_"; done
  echo "== $setup: concurrent sends, long-poll wake" >&2
  "$bench" --url "$url" "${also[@]}" --workload concurrent-sends --concurrency "$concurrency" \
    --duration-secs "$duration" --count 20000 --json > "$work/$setup-sends.json"
  "$bench" --url "$url" "${also[@]}" --workload long-poll-wake --duration-secs "$duration" --count 200 \
    --json > "$work/$setup-wake.json"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  pids=()
}

start rocksdb 1 localhost
run rocksdb "$started"
for n in 1 2 3; do
  database="nexus_cluster_bench_$n"
  psql "$admin_url" -qc "CREATE DATABASE $database" >/dev/null
  db_url="${admin_url%/*}/$database"
  urls=()
  for i in $(seq 1 "$n"); do
    start "postgres-$n" "$i" cluster.local NEXUS__STORAGE__BACKEND=postgres \
      NEXUS__STORAGE__POSTGRES_URL="$db_url" NEXUS__REDIS__URL="redis://127.0.0.1:$redis_port" \
      NEXUS__SEARCH__PATH="$work/search-$n"
    urls+=("$started")
    # The first process creates the schema and the signing key.
    [ "$i" = 1 ] && wait_for "${urls[0]}"
  done
  run "postgres-$n" "${urls[@]}"
done

python3 scripts/bench_cluster_table.py docs/performance.md "$work" "$duration" "$concurrency"
echo "cluster-bench.sh: wrote the Scale-out section of docs/performance.md" >&2
