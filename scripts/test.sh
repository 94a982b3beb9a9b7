#!/usr/bin/env bash
# Runs every Nexus test:
#   1. unit tests and the storage conformance suite (RocksDB and PostgreSQL);
#   2. the black-box scenarios in complement-tests/ against the real `nexus`
#      binary, on RocksDB and on PostgreSQL, including the matrix-sdk ones
#      and federation with a second Nexus and with Synapse from PyPI;
#   3. every JSON answer those scenarios received, validated against the
#      spec's OpenAPI response schemas (complement-tests/openapi_check.py);
#   4. the mapping of those results onto Complement's catalogue, which must
#      equal the committed baseline (complement-tests/baseline.json).
# The black-box scenarios include matrix-js-sdk ones (scripts/js-judge.sh
# installs it and Node 22 from npm into ~/.cache/nexus-js), livekit-client in
# headless Chromium (scripts/browser-judge.sh, ~/.cache/nexus-browser), the
# Nexus web client in that Chromium (scripts/web-client.sh builds it into
# ~/.cache/nexus-web and runs its unit tests), mautrix-python
# and matrix-appservice-bridge ones (scripts/appservice-judges.sh) and a two-minute
# schemathesis fuzz run over the whole client-server OpenAPI.
# It installs what is missing (Debian's postgresql, redis-server, libclang
# and g++ for RocksDB, npm, dnsmasq) and starts its own PostgreSQL, which it stops at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nexus-target}"
export NEXUS_COMPLEMENT_TARGET_DIR="${NEXUS_COMPLEMENT_TARGET_DIR:-$HOME/.cache/nexus-complement-target}"
mkdir -p "$CARGO_TARGET_DIR" "$NEXUS_COMPLEMENT_TARGET_DIR"

extra_packages=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || extra_packages+=(postgresql)
# A DNS server for the server-discovery scenarios (SRV records).
[ -x /usr/sbin/dnsmasq ] || extra_packages+=(dnsmasq-base)
# The cluster scenarios start their own Redis.
command -v redis-server >/dev/null || extra_packages+=(redis-server)
# The SFU scenarios build a network namespace with a dummy interface.
command -v ip >/dev/null || extra_packages+=(iproute2)
scripts/build-deps.sh "${extra_packages[@]}"

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
export NEXUS_TEST_REQUIRE_DNS=1
# matrix-js-sdk (Element Web's engine) as a judge, with Node 22 from npm.
export NEXUS_JS_DIR
NEXUS_JS_DIR="$(scripts/js-judge.sh)"
export NEXUS_TEST_REQUIRE_JS=1
# discord.js as a judge of the bot API (run with that Node 22).
export NEXUS_DISCORD_JS_DIR
NEXUS_DISCORD_JS_DIR="$(scripts/discord-js-judge.sh)"
# livekit-client in headless Debian Chromium (playwright-core drives it,
# with that Node 22) as a judge of the embedded SFU.
export NEXUS_BROWSER_DIR
NEXUS_BROWSER_DIR="$(scripts/browser-judge.sh)"
export NEXUS_TEST_REQUIRE_BROWSER=1
# The web client: type-checked, unit-tested (Vitest), built, and judged in
# that Chromium by its Playwright scenarios (complement-tests/tests/web_client.rs).
echo "== the web client: type check and unit tests"
scripts/web-client.sh test
export NEXUS_WEB_CLIENT_DIR
NEXUS_WEB_CLIENT_DIR="$(scripts/web-client.sh)"
export NEXUS_TEST_REQUIRE_WEB_CLIENT=1
# Bridge libraries as judges of the appservice API: mautrix-python (pip) and
# matrix-appservice-bridge (npm).
scripts/appservice-judges.sh
export NEXUS_TEST_REQUIRE_APPSERVICE_JUDGES=1
# Every JSON answer the scenarios get is logged, then validated against the
# spec's OpenAPI response schemas (complement-tests/openapi_check.py).
openapi_venv="$HOME/.cache/nexus-bench/openapi-venv"
if [ ! -x "$openapi_venv/bin/python" ] || ! "$openapi_venv/bin/python" -c 'import jsonschema' 2>/dev/null; then
  echo "test.sh: installing jsonschema (the OpenAPI response check) into $openapi_venv"
  python3 -m venv "$openapi_venv" && "$openapi_venv/bin/pip" install -q 'jsonschema>=4.18'
fi
# A bounded schemathesis run against the binary (complement-tests/fuzz).
fuzz_venv="$HOME/.cache/nexus-bench/fuzz-venv"
if [ ! -x "$fuzz_venv/bin/schemathesis" ]; then
  echo "test.sh: installing schemathesis (the fuzz run) into $fuzz_venv"
  python3 -m venv "$fuzz_venv" && "$fuzz_venv/bin/pip" install -q 'schemathesis>=4.3,<5'
fi
export NEXUS_FUZZ_VENV="$fuzz_venv" NEXUS_TEST_REQUIRE_FUZZ=1
# LiveKit's own token verifier judges the built-in token service, and
# LiveKit's real-time SDK (with numpy for its FFT) the embedded SFU.
livekit_venv="$(scripts/livekit-judge.sh)"
export NEXUS_LIVEKIT_VENV="$livekit_venv" NEXUS_TEST_REQUIRE_LIVEKIT=1
# discord.py judges the Discord-compatible bot API.
discord_venv="$HOME/.cache/nexus-discord-venv"
if ! "$discord_venv/bin/python" -c 'import discord' 2>/dev/null; then
  echo "test.sh: installing discord.py (the bot API's judge) into $discord_venv"
  python3 -m venv "$discord_venv" && "$discord_venv/bin/pip" install -q 'discord.py>=2.4,<3'
fi
export NEXUS_DISCORD_VENV="$discord_venv" NEXUS_TEST_REQUIRE_DISCORD=1
export NEXUS_OPENAPI_LOG="$NEXUS_COMPLEMENT_TARGET_DIR/openapi-answers.jsonl"
rm -f "$NEXUS_OPENAPI_LOG"
blackbox_log="$NEXUS_COMPLEMENT_TARGET_DIR/complement-tests.log"
set +e
# cargo names each test binary on stderr: the log needs both streams.
(cd complement-tests && CARGO_TARGET_DIR="$NEXUS_COMPLEMENT_TARGET_DIR" cargo test --no-fail-fast -- --test-threads="${NEXUS_TEST_THREADS:-4}") 2>&1 | tee "$blackbox_log"
blackbox_status=${PIPESTATUS[0]}
set -e

echo "== answers against the spec's OpenAPI response schemas"
openapi_status=0
"$openapi_venv/bin/python" complement-tests/openapi_check.py "$NEXUS_OPENAPI_LOG" || openapi_status=1

echo "== conformance: Complement's catalogue against the committed baseline"
conformance_status=0
python3 complement-tests/baseline.py --lint || conformance_status=1
python3 complement-tests/baseline.py "$blackbox_log" --results "$NEXUS_COMPLEMENT_TARGET_DIR/results.json" \
  --check --readme README.md || conformance_status=1
if [ "$blackbox_status" -ne 0 ]; then
  # The failures again, last, without backtraces and server logs: the end
  # of the output is what a CI summary keeps.
  echo "== failures"
  python3 - "$blackbox_log" <<'PY'
import re, sys
lines = open(sys.argv[1], errors="replace").read().splitlines()
shown = 0
for i, line in enumerate(lines):
    if "panicked at" in line or line.startswith("run.py: FAILURE"):
        block = [line]
        for follow in lines[i + 1:i + 12]:
            if follow.startswith(("stack backtrace", "note: ", "-----", "---- ")) or "panicked at" in follow:
                break
            block.append(follow)
        print("\n".join(block)[:1500])
        shown += 1
        if shown >= 12:
            break
PY
  echo "test.sh: black-box scenarios failed"
  exit 1
fi
[ "$conformance_status" -eq 0 ] || { echo "test.sh: conformance differs from complement-tests/baseline.json"; exit 1; }
[ "$openapi_status" -eq 0 ] || { echo "test.sh: answers differ from the spec's OpenAPI schemas"; exit 1; }

echo "== all tests passed"
