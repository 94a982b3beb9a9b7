#!/usr/bin/env bash
# Installs what building Nexus needs beyond Rust, on Debian: libclang for
# RocksDB's bindings (bindgen), a C++ compiler and make for RocksDB and
# jemalloc (the server's allocator, built from source by its crate), plus
# any extra Debian packages named as arguments. Sourced or run by
# scripts/serve.sh and scripts/test.sh; does nothing when all are present.
set -euo pipefail

needed=("$@")
compgen -G "/usr/lib/llvm-*/lib/libclang.so*" >/dev/null || needed+=(libclang-dev)
command -v g++ >/dev/null || needed+=(g++)
command -v make >/dev/null || needed+=(make)
if [ ${#needed[@]} -gt 0 ]; then
  echo "build-deps.sh: installing ${needed[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${needed[@]}" >&2
fi
