#!/usr/bin/env bash
# Benchmarks the embedded SFU: N publishers × M subscribers of audio in one
# room on loopback, each a simulated LiveKit participant (complement-tests'
# `sfu-bench`: LiveKit's signalling, str0m for WebRTC) sending a 60-byte
# frame every 20 ms. Reports the latency a frame takes from publisher to
# subscriber through the SFU (p50/p95/p99/max), the share of frames
# delivered, and the release-built server's CPU (cores) over the measured
# window. Not part of the test command. Usage: scripts/sfu-bench.sh [seconds]
# Prints one JSON line per configuration; NEXUS_SFU_BENCH_CONFIGS overrides
# the configurations ("N×M …", e.g. "2x50 3x200"). The server runs pinned to
# CPU 0 and the load driver to CPU 1, so "per core" means one core, and the
# driver's own work (every simulated client's DTLS and SRTP) never takes the
# server's.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nexus-target}"
complement_target="${NEXUS_COMPLEMENT_TARGET_DIR:-$HOME/.cache/nexus-complement-target}"
configs=${NEXUS_SFU_BENCH_CONFIGS:-"1x10 2x50 3x100 3x200 10x20"}
if [ -z "${NEXUS_BENCH_SKIP_BUILD:-}" ]; then
  echo "sfu-bench.sh: building Nexus and the load driver (release)" >&2
  cargo build --release --bin nexus >&2
  (cd complement-tests && CARGO_TARGET_DIR="$complement_target" cargo build --release -p nexus-sfu-load >&2)
fi
for config in $configs; do
  publishers=${config%x*}
  subscribers=${config#*x}
  work=$(mktemp -d /tmp/nexus-sfu-bench.XXXXXX)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  NEXUS__SERVER__SERVER_NAME="localhost:$port" NEXUS__LISTENERS__CLIENT="127.0.0.1:$port" \
  NEXUS__STORAGE__PATH="$work/data" NEXUS__SFU__UDP=127.0.0.1:0 NEXUS__SFU__MAX_PARTICIPANTS_PER_ROOM=1000 \
  NEXUS__BOT_API__ENABLED=false NEXUS__LOGGING__LEVEL=warn NO_COLOR=1 \
    taskset -c 0 "$CARGO_TARGET_DIR/release/nexus" serve > "$work/nexus.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/_matrix/client/versions" >/dev/null && break; sleep 0.1; done
  taskset -c 1 "$complement_target/release/sfu-bench" --url "ws://127.0.0.1:$port/_nexus/sfu" \
    --secret-file "$work/data/sfu/api-secret" --publishers "$publishers" --subscribers "$subscribers" \
    --seconds "$seconds" --pid "$pid" || echo "{\"publishers\": $publishers, \"subscribers\": $subscribers, \"failed\": true}"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$work"
done
