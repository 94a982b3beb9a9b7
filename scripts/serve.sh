#!/usr/bin/env bash
# Builds and runs the Nexus homeserver on a fresh Debian machine with only
# Rust installed: installs what the build needs (scripts/build-deps.sh),
# builds in release mode into $CARGO_TARGET_DIR (default
# ~/.cache/nexus-target) and runs `nexus serve` with any arguments given
# (e.g. `--config nexus.toml`).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nexus-target}"
scripts/build-deps.sh
cargo build --release --bin nexus
exec "$CARGO_TARGET_DIR/release/nexus" serve "$@"
