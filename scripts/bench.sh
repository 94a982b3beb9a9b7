#!/usr/bin/env bash
# Benchmarks Nexus and Synapse side by side, on loopback, in one run, and
# writes docs/performance.md. Not part of the test command (it takes
# minutes); see the README. Usage: scripts/bench.sh [scale]
#
# One workload alone, same settings: NEXUS_BENCH_WORKLOAD=sliding-sync;
# optionally NEXUS_BENCH_MODES=no-flush, NEXUS_BENCH_BIN=<a built
# nexus-bench>, NEXUS_BENCH_SKIP_BUILD=1 (Nexus already built). Its JSON
# figures go to NEXUS_BENCH_OUT (default /tmp/nexus-bench-out), not to
# docs/performance.md — except NEXUS_BENCH_WORKLOAD=discord (the bot API,
# Nexus only: Synapse has none), which also rewrites its own section of
# docs/performance.md ("Discord bot API"), and NEXUS_BENCH_WORKLOAD=search
# (full-text search over 1,000,000 × scale messages, or
# NEXUS_BENCH_SEARCH_MESSAGES; both servers), which rewrites "Search", and
# NEXUS_BENCH_WORKLOAD=idle-connections (18,000 held long-polls, memory per
# connection, a 1,000-member room's wake; both servers; with one mode, e.g.
# NEXUS_BENCH_MODES=no-flush), which rewrites "Idle connections", and
# NEXUS_BENCH_WORKLOAD=federated-join (joining a 10,000-member room over
# federation, NEXUS_BENCH_JOIN_MEMBERS; every pairing with Synapse, whose
# rooms get NEXUS_BENCH_JOIN_SYNAPSE_MEMBERS), which rewrites "Joins over
# federation".
# NEXUS_BENCH_WORKLOAD=giant-room (a room of 100,000 members,
# NEXUS_BENCH_GIANT_MEMBERS, beside a 10-member room; Nexus only: Synapse
# cannot fill such a room here in bounded time), which rewrites "Giant rooms".
# Neither is part of `all`.
#
# Durability is matched in two modes:
#   flush    — both flush every commit to disk before answering:
#              Nexus storage.sync_writes = true; Synapse on PostgreSQL with
#              fsync = on, synchronous_commit = on.
#   no-flush — neither flushes per commit (both survive a crash of the
#              server process, not of the machine): Nexus's default;
#              Synapse with synchronous_commit = off.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-0.02}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nexus-target}"
export NEXUS_COMPLEMENT_TARGET_DIR="${NEXUS_COMPLEMENT_TARGET_DIR:-$HOME/.cache/nexus-complement-target}"
workload=${NEXUS_BENCH_WORKLOAD:-all}
out=${NEXUS_BENCH_OUT:-/tmp/nexus-bench-out}
modes=${NEXUS_BENCH_MODES:-no-flush flush}
work=$(mktemp -d /tmp/nexus-bench.XXXXXX)
venv="$HOME/.cache/nexus-bench/synapse-venv"
pids=()
# The Discord bot API exists only in Nexus: no Synapse, no PostgreSQL.
nexus_only() { [ "$workload" = discord ] || [ "$workload" = giant-room ]; }
cleanup() {
  if [ "${workload:-all}" != all ]; then
    mkdir -p "$out"
    for log in "$work"/synapse-*/synapse.log; do [ -f "$log" ] && cp "$log" "$out/$(basename "$(dirname "$log")").log"; done
  fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # (a discord run started none: leave an inherited one alone)
  nexus_only || { [ -n "${NEXUS_TEST_POSTGRES_DIR:-}" ] && scripts/postgres.sh stop "$NEXUS_TEST_POSTGRES_DIR"; }
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 1 600); do curl -sf "$1/_matrix/client/versions" >/dev/null && return 0; sleep 0.5; done; echo "bench.sh: $1 did not start" >&2; return 1; }

echo "== building Nexus (release) and the load driver"
[ -n "${NEXUS_BENCH_SKIP_BUILD:-}" ] || cargo build --release --bin nexus
if [ -n "${NEXUS_BENCH_BIN:-}" ]; then
  bench=$NEXUS_BENCH_BIN
else
  (cd complement-tests && CARGO_TARGET_DIR="$NEXUS_COMPLEMENT_TARGET_DIR" cargo build --release --bin nexus-bench --bin federation-latency --bin federated-join --bin giant-room)
  bench="$NEXUS_COMPLEMENT_TARGET_DIR/release/nexus-bench"
fi

if ! nexus_only; then
  echo "== installing Synapse from PyPI"
  # The test harness may have made this venv without the PostgreSQL driver.
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import synapse, psycopg2' 2>/dev/null; then
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install -q "matrix-synapse[postgres]"
  fi
  synapse_version=$("$venv/bin/python" -c 'import synapse; print(synapse.__version__)')

  NEXUS_PG_FSYNC=on eval "$(scripts/postgres.sh)"
  pg_url=$NEXUS_TEST_POSTGRES_URL
  pg_port=${pg_url##*:}; pg_port=${pg_port%%/*}
fi

# A giant room beside a small one, on one Nexus the harness starts.
if [ "$workload" = giant-room ]; then
  members=${NEXUS_BENCH_GIANT_MEMBERS:-100000}
  echo "== a room of $members members"
  mkdir -p "$out"
  NEXUS_BIN="$CARGO_TARGET_DIR/release/nexus" "$NEXUS_COMPLEMENT_TARGET_DIR/release/giant-room" "$members" --json \
    > "$out/giant-room.json"
  python3 scripts/bench_giant_table.py docs/performance.md "$out/giant-room.json" \
    "NEXUS_BENCH_WORKLOAD=giant-room NEXUS_BENCH_GIANT_MEMBERS=$members scripts/bench.sh"
  echo "== wrote the Giant rooms section of docs/performance.md"
  exit 0
fi

# Joins over federation: each pairing of resident and joiner starts its own
# servers (the harness: a test CA, Synapse on SQLite from the same venv).
if [ "$workload" = federated-join ]; then
  members=${NEXUS_BENCH_JOIN_MEMBERS:-10000}
  synapse_members=${NEXUS_BENCH_JOIN_SYNAPSE_MEMBERS:-2000}
  echo "== joins over federation ($members members; $synapse_members in a Synapse room)"
  mkdir -p "$out"
  NEXUS_BIN="$CARGO_TARGET_DIR/release/nexus" NEXUS_SYNAPSE_VENV="$venv" \
    "$NEXUS_COMPLEMENT_TARGET_DIR/release/federated-join" "$members" --synapse-members "$synapse_members" --json \
    > "$out/federated-join.json"
  python3 scripts/bench_join_table.py docs/performance.md "$out/federated-join.json" "$synapse_version" \
    "NEXUS_BENCH_WORKLOAD=federated-join NEXUS_BENCH_JOIN_MEMBERS=$members NEXUS_BENCH_JOIN_SYNAPSE_MEMBERS=$synapse_members scripts/bench.sh"
  echo "== wrote the Joins over federation section of docs/performance.md"
  exit 0
fi

# The appservice workload: both servers get this registration (only for
# that workload: a registered appservice is work on every event), whose url
# is the driver's own listener.
as_port=$(free_port)
as_token="bench-as-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
hs_token="bench-hs-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cat > "$work/appservice.yaml" <<YAML
id: nexus-bench
url: 'http://127.0.0.1:$as_port'
as_token: '$as_token'
hs_token: '$hs_token'
sender_localpart: 'benchas_bot'
rate_limited: false
namespaces:
  users:
    - exclusive: true
      regex: '@benchas_.*'
  aliases: []
  rooms: []
YAML
# The figures of `all` are {server}-{mode}.json; the appservice run's
# {server}-{mode}-appservice.json and the discord run's
# nexus-{mode}-discord.json beside them.
suffix() { case "$1" in appservice | discord) [ "$workload" = all ] && echo "-$1" ;; esac; return 0; }
appservice_args() { # workload
  [ "$1" = appservice ] && echo "--as-port $as_port --as-token $as_token --hs-token $hs_token --as-prefix benchas_"
  return 0
}

run_nexus() { # mode [workload]
  local mode=$1 load=${2:-$workload} port data sync registrations=[]
  port=$(free_port); data="$work/nexus-$mode-$load"
  sync=$([ "$mode" = flush ] && echo true || echo false)
  [ "$load" = appservice ] && registrations="[\"$work/appservice.yaml\"]"
  NEXUS__APPSERVICE__REGISTRATION_FILES="$registrations" \
  NEXUS__SERVER__SERVER_NAME="localhost:$port" NEXUS__LISTENERS__CLIENT="127.0.0.1:$port" \
  NEXUS__STORAGE__PATH="$data" NEXUS__STORAGE__SYNC_WRITES=$sync NEXUS__LOGGING__LEVEL=warn \
  NEXUS__RATE_LIMITS__REGISTER_PER_SECOND=100000 NEXUS__RATE_LIMITS__REGISTER_BURST=100000 \
  NEXUS__RATE_LIMITS__LOGIN_PER_SECOND=100000 NEXUS__RATE_LIMITS__LOGIN_BURST=100000 \
    "$CARGO_TARGET_DIR/release/nexus" serve > "$work/nexus-$mode-$load.log" 2>&1 &
  local pid=$!; pids+=("$pid")
  wait_for "http://127.0.0.1:$port"
  sleep 2
  # shellcheck disable=SC2046 # the appservice flags are words
  "$bench" --url "http://127.0.0.1:$port" --server-name "localhost:$port" --workload "$load" --scale "$scale" --pid "$pid" --json \
    $(appservice_args "$load") > "$work/nexus-$mode$(suffix "$load").json"
  [ "$workload" = all ] || { mkdir -p "$out"; cp "$work/nexus-$mode$(suffix "$load").json" "$out/"; }
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

run_synapse() { # mode [workload]
  local mode=$1 load=${2:-$workload} port dir db commit
  port=$(free_port); dir="$work/synapse-$mode-$load"; db="synapse_${mode//-/_}_${load//-/_}"
  commit=$([ "$mode" = flush ] && echo on || echo off)
  mkdir -p "$dir"
  psql "$pg_url" -q -c "CREATE DATABASE $db ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
  psql "${pg_url%/*}/$db" -q -c "ALTER DATABASE $db SET synchronous_commit = $commit"
  (cd "$dir" && "$venv/bin/python" -m synapse.app.homeserver --server-name "localhost:$port" \
     --config-path homeserver.yaml --generate-config --report-stats=no >/dev/null)
  "$venv/bin/python" - "$dir/homeserver.yaml" "$port" "$pg_port" "$db" "$([ "$load" = appservice ] && echo "$work/appservice.yaml")" <<'PY'
import sys, yaml
path, port, pg_port, db, registration = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
cfg = yaml.safe_load(open(path))
cfg["listeners"] = [{"port": port, "bind_addresses": ["127.0.0.1"], "type": "http", "tls": False,
                     "x_forwarded": False, "resources": [{"names": ["client"], "compress": False}]}]
cfg["database"] = {"name": "psycopg2", "args": {"user": "postgres", "database": db, "host": "127.0.0.1",
                   "port": int(pg_port), "cp_min": 5, "cp_max": 10}}
cfg["enable_registration"] = True
cfg["enable_registration_without_verification"] = True
unlimited = {"per_second": 100000, "burst_count": 100000}
for key in ["rc_message", "rc_registration", "rc_room_creation", "rc_3pid_validation",
            "rc_admin_redaction", "rc_presence", "rc_delayed_event_mgmt", "rc_joins_per_room"]:
    cfg[key] = unlimited
cfg["rc_login"] = {"address": unlimited, "account": unlimited, "failed_attempts": unlimited}
cfg["rc_joins"] = {"local": unlimited, "remote": unlimited}
cfg["rc_invites"] = {"per_room": unlimited, "per_user": unlimited, "per_issuer": unlimited}
cfg["presence"] = {"enabled": True}
cfg["suppress_key_server_warning"] = True
cfg["trusted_key_servers"] = []
cfg["log_config"] = None
if registration:
    cfg["app_service_config_files"] = [registration]
yaml.safe_dump(cfg, open(path, "w"))
PY
  # Started from its directory (its config uses relative paths), without a
  # subshell, so that $! is Synapse's own pid (for its memory figures).
  pushd "$dir" >/dev/null
  "$venv/bin/python" -m synapse.app.homeserver --config-path homeserver.yaml > synapse.log 2>&1 &
  local pid=$!; pids+=("$pid")
  popd >/dev/null
  wait_for "http://127.0.0.1:$port"
  sleep 2
  # shellcheck disable=SC2046 # the appservice flags are words
  "$bench" --url "http://127.0.0.1:$port" --server-name "localhost:$port" --workload "$load" --scale "$scale" --pid "$pid" --json \
    $(appservice_args "$load") > "$work/synapse-$mode$(suffix "$load").json"
  [ "$workload" = all ] || { mkdir -p "$out"; cp "$work/synapse-$mode$(suffix "$load").json" "$out/"; }
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

for mode in $modes; do
  echo "== Nexus, $mode"; run_nexus "$mode"
  nexus_only || { echo "== Synapse $synapse_version, $mode"; run_synapse "$mode"; }
done

if [ "$workload" != all ]; then
  nexus_only || echo "$synapse_version" > "$out/synapse-version"
  if [ "$workload" = discord ]; then
    # shellcheck disable=SC2086 # the modes are words
    python3 scripts/bench_discord_table.py --into docs/performance.md "$work" "" \
      "NEXUS_BENCH_WORKLOAD=discord scripts/bench.sh $scale" $modes
    echo "== wrote the Discord bot API section of docs/performance.md"
  fi
  if [ "$workload" = idle-connections ]; then
    # shellcheck disable=SC2086 # the modes are words
    python3 scripts/bench_connections_table.py docs/performance.md "$work" "$synapse_version" \
      "NEXUS_BENCH_WORKLOAD=idle-connections NEXUS_BENCH_MODES=$(echo $modes | cut -d' ' -f1) scripts/bench.sh" $modes
    echo "== wrote the Idle connections section of docs/performance.md"
  fi
  if [ "$workload" = search ]; then
    command="NEXUS_BENCH_WORKLOAD=search${NEXUS_BENCH_SEARCH_MESSAGES:+ NEXUS_BENCH_SEARCH_MESSAGES=$NEXUS_BENCH_SEARCH_MESSAGES}"
    command="$command${NEXUS_BENCH_MODES:+ NEXUS_BENCH_MODES=\"$NEXUS_BENCH_MODES\"} scripts/bench.sh $scale"
    # shellcheck disable=SC2086 # the modes are words
    python3 scripts/bench_search_table.py docs/performance.md "$work" "$synapse_version" "$command" $modes
    echo "== wrote the Search section of docs/performance.md"
  fi
  echo "== wrote $out"
  exit 0
fi

fsync_ms=$(python3 - "$work" <<'PY'
import os, sys, time
path = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT)
times = []
for _ in range(50):
    os.write(fd, b"x" * 512)
    start = time.perf_counter(); os.fsync(fd); times.append(time.perf_counter() - start)
times.sort()
print(f"{times[len(times)//2]*1000:.2f}")
PY
)
python3 scripts/bench_report.py "$work" "$synapse_version" "$scale" "$fsync_ms" "scripts/bench.sh $scale" > docs/performance.md

# Federation: send on one server → the recipient's long-poll on another,
# every pairing of Nexus and Synapse, fresh servers per pairing (the
# harness makes a test CA and runs Synapse on SQLite from the same venv).
echo "== federation latency"
latency_table=$(NEXUS_BIN="$CARGO_TARGET_DIR/release/nexus" NEXUS_SYNAPSE_VENV="$venv" \
  "$NEXUS_COMPLEMENT_TARGET_DIR/release/federation-latency" 50)
cat >> docs/performance.md <<MD

## Federation: send → remote /sync

One message at a time from a user on the first server to a user on the
second, who long-polls \`/sync\`; the time from the \`PUT /send\` request to the
\`/sync\` answer carrying it, over loopback TLS (50 messages after one
warm-up; release Nexus on RocksDB, Synapse $synapse_version on SQLite).

$latency_table
MD

# Nexus servers: one role change → every channel's m.room.power_levels
# recompiled, in process (nexus-core's benchmark
# homeserver/core/benches/guild_recompile.rs). Synapse has no Nexus roles,
# so there is nothing to set beside it. Most of its run is setup (filling a
# 10,000-member room); NEXUS_BENCH_DATA=<dir> keeps that store for later runs.
echo "== Nexus servers: power-level recompilation"
recompile_table=$(cargo bench -q -p nexus-core --bench guild_recompile)
cat >> docs/performance.md <<MD

## Nexus servers: recompiling power levels after a role change

A role edited in a server of 500 channels and 10,000 members (all in
#general, 20 different ones in each other channel, a moderator in each): the
time from the \`nexus.role\` event to no recompilation job left, every
room's \`m.room.power_levels\` then equal to the compiler's output (release
build, in process, RocksDB; \`cargo bench -p nexus-core --bench guild_recompile\`).
Synapse has no equivalent workload (it has no Nexus roles), so it is not
measured side by side.

$recompile_table
MD

# Delayed events (MSC4140): 100,000 pending, and how late the ones due fire.
echo "== delayed events"
delayed_table=$(cargo bench -q -p nexus-core --bench delayed_events)
cat >> docs/performance.md <<MD

## Delayed events: 100,000 pending

One user schedules 100,000 delayed messages due in an hour; then 200 other
users each schedule one due within the next 1–5 s. Lateness is the time from
a probe's due time to its outcome being recorded (the event sent through the
ordinary send path and persisted). Release build, in process, RocksDB
(\`cargo bench -p nexus-core --bench delayed_events\`). Synapse keeps its
delayed events in its database with one timer for the next one; it is not
run here (this is an in-process benchmark).

$delayed_table
MD
# Application services: a bridge's ghosts sending, and events delivered
# to the bridge, on fresh servers started with the same registration.
echo "== application services"
for mode in $modes; do
  echo "== Nexus, $mode, appservice"; run_nexus "$mode" appservice
  echo "== Synapse $synapse_version, $mode, appservice"; run_synapse "$mode" appservice
done
# shellcheck disable=SC2086 # the modes are words
appservice_table=$(python3 scripts/bench_appservice_table.py "$work" -appservice $modes)
cat >> docs/performance.md <<MD

## Application services

What a bridge costs each server, with the same registration on both
(\`rate_limited: false\`, an exclusive user namespace) whose \`url\` is the
load driver's own appservice (\`nexus-bench --workload appservice\`).
**Ghost sends**: 64 ghosts, registered with \`m.login.application_service\`,
send with the \`as_token\` and \`?user_id=\` masquerading over 16 rooms, all at
once (latency per send). **Events delivered**: 64 ordinary users send into 16
rooms, each with a ghost in it; per second is the events the appservice
received, from the first send to the last arrival, latency is each event's
from its send to the arrival of the transaction carrying it, and events per
transaction shows the batching. Each loop stops at 10,000 or after 30 s,
whichever comes first (count). Every acknowledged event must arrive (the run
fails otherwise). Release Nexus on RocksDB, Synapse $synapse_version on
PostgreSQL; modes as above.

$appservice_table
MD
# The Discord-compatible bot API (Nexus only: Synapse has none).
echo "== Discord bot API"
for mode in $modes; do
  echo "== Nexus, $mode, discord"; run_nexus "$mode" discord
done
# shellcheck disable=SC2086 # the modes are words
python3 scripts/bench_discord_table.py "$work" -discord "scripts/bench.sh $scale" $modes >> docs/performance.md
echo "== wrote docs/performance.md"
