#!/usr/bin/env bash
# Builds and runs the Nexus homeserver on a fresh Debian machine with only
# Rust installed: installs what the build needs (scripts/build-deps.sh),
# builds in release mode into $CARGO_TARGET_DIR (default
# ~/.cache/nexus-target), builds the web client (scripts/web-client.sh) and
# runs `nexus serve` with any arguments given (e.g. `--config nexus.toml`),
# serving the client at / unless NEXUS__WEB_CLIENT__PATH says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nexus-target}"
scripts/build-deps.sh
cargo build --release --bin nexus
export NEXUS__WEB_CLIENT__PATH="${NEXUS__WEB_CLIENT__PATH:-$(scripts/web-client.sh)}"
exec "$CARGO_TARGET_DIR/release/nexus" serve "$@"
