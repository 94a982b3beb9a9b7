#!/usr/bin/env bash
# Runs every Nexus test:
#   1. unit tests and the storage conformance suite (RocksDB and PostgreSQL);
#   2. the black-box scenarios in complement-tests/ against the real `nexus`
#      binary, on RocksDB and on PostgreSQL, including the matrix-sdk ones
#      and federation with a second Nexus and with Synapse from PyPI;
#   3. the mapping of those results onto Complement's catalogue, which must
#      equal the committed baseline (complement-tests/baseline.json).
# It installs what is missing (Debian's postgresql, libclang for RocksDB's
# bindings) and starts its own PostgreSQL, which it stops at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nexus-target}"
export NEXUS_COMPLEMENT_TARGET_DIR="${NEXUS_COMPLEMENT_TARGET_DIR:-$HOME/.cache/nexus-complement-target}"
mkdir -p "$CARGO_TARGET_DIR" "$NEXUS_COMPLEMENT_TARGET_DIR"

need_packages=()
compgen -G "/usr/lib/llvm-*/lib/libclang.so*" >/dev/null || need_packages+=(libclang-dev)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_packages+=(postgresql)
if [ ${#need_packages[@]} -gt 0 ]; then
  echo "test.sh: installing ${need_packages[*]}"
  apt-get update -qq && apt-get install -y -qq "${need_packages[@]}"
fi

eval "$(scripts/postgres.sh)"
trap 'scripts/postgres.sh stop "$NEXUS_TEST_POSTGRES_DIR"' EXIT
export NEXUS_TEST_REQUIRE_POSTGRES=1

echo "== unit tests and storage conformance"
cargo build --workspace --bins
cargo test --workspace

echo "== black-box scenarios against the nexus binary"
export NEXUS_BIN="$CARGO_TARGET_DIR/debug/nexus"
# The federation scenarios run a real Synapse from PyPI; in CI a missing
# Synapse is a failure, not a skip.
export NEXUS_TEST_REQUIRE_SYNAPSE="${NEXUS_TEST_REQUIRE_SYNAPSE:-1}"
# The S3 media scenario runs moto's S3 server from PyPI.
moto_venv="$HOME/.cache/nexus-bench/moto-venv"
if [ ! -x "$moto_venv/bin/moto_server" ]; then
  echo "test.sh: installing moto (an S3 server for the media scenario) into $moto_venv"
  python3 -m venv "$moto_venv" && "$moto_venv/bin/pip" install -q 'moto[server]'
fi
export NEXUS_TEST_REQUIRE_S3=1
blackbox_log="$NEXUS_COMPLEMENT_TARGET_DIR/complement-tests.log"
set +e
# cargo names each test binary on stderr: the log needs both streams.
(cd complement-tests && CARGO_TARGET_DIR="$NEXUS_COMPLEMENT_TARGET_DIR" cargo test --no-fail-fast -- --test-threads="${NEXUS_TEST_THREADS:-4}") 2>&1 | tee "$blackbox_log"
blackbox_status=${PIPESTATUS[0]}
set -e

echo "== conformance: Complement's catalogue against the committed baseline"
conformance_status=0
python3 complement-tests/baseline.py --lint || conformance_status=1
python3 complement-tests/baseline.py "$blackbox_log" --results "$NEXUS_COMPLEMENT_TARGET_DIR/results.json" \
  --check --readme README.md || conformance_status=1
[ "$blackbox_status" -eq 0 ] || { echo "test.sh: black-box scenarios failed"; exit 1; }
[ "$conformance_status" -eq 0 ] || { echo "test.sh: conformance differs from complement-tests/baseline.json"; exit 1; }

echo "== all tests passed"
