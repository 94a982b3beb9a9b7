#!/usr/bin/env bash
# Installs the matrix-js-sdk judge (complement-tests/js) into a cache,
# once: matrix-js-sdk from its lock file, and Node 22 from the npm registry
# (the package node-linux-<arch>, whose bin/node the scenarios run with),
# since Debian's Node is older than js-sdk needs. Prints the directory.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_VERSION=22.23.3
dir="${NEXUS_JS_DIR:-$HOME/.cache/nexus-js}"
mkdir -p "$dir"
command -v npm >/dev/null || scripts/build-deps.sh npm

case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "js-judge.sh: no Node package for $(uname -m)" >&2; exit 1 ;;
esac

stamp="$(cat complement-tests/js/package-lock.json | sha256sum | cut -c1-16)-$NODE_VERSION"
if [ "$(cat "$dir/.installed" 2>/dev/null)" != "$stamp" ]; then
  echo "js-judge.sh: installing matrix-js-sdk and Node $NODE_VERSION into $dir" >&2
  cp complement-tests/js/package.json complement-tests/js/package-lock.json "$dir/"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2 \
    && npm install --no-save --no-audit --no-fund --loglevel=error "node-linux-$arch@$NODE_VERSION" >&2)
  echo "$stamp" > "$dir/.installed"
fi
echo "$dir"
