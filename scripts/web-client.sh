#!/usr/bin/env bash
# Builds the Nexus web client (clients/web) and prints the directory of the
# build (what `[web_client] path` names). Its npm packages install once into
# a cache (~/.cache/nexus-web, from the lock file) that clients/web's
# node_modules links to; the build and the tests run on the Node 22 that
# scripts/js-judge.sh installs from npm, since Debian's Node is older than
# Vite needs. A build is redone only when the client's sources change.
#   scripts/web-client.sh        build; print the build's directory
#   scripts/web-client.sh test   type-check and run the unit tests (Vitest)
# Messages go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${NEXUS_WEB_DIR:-$HOME/.cache/nexus-web}"
mkdir -p "$dir"
command -v npm >/dev/null || scripts/build-deps.sh npm
node="$(scripts/js-judge.sh)/node_modules/.bin/node"

stamp="$(sha256sum < clients/web/package-lock.json | cut -c1-16)"
if [ "$(cat "$dir/.installed" 2>/dev/null)" != "$stamp" ]; then
  echo "web-client.sh: installing the web client's packages into $dir" >&2
  cp clients/web/package.json clients/web/package-lock.json "$dir/"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$stamp" > "$dir/.installed"
fi
# A developer's own `npm install` (a real directory) is left alone.
if [ -L clients/web/node_modules ] || [ ! -e clients/web/node_modules ]; then
  ln -sfn "$dir/node_modules" clients/web/node_modules
fi

cd clients/web
if [ "${1:-build}" = test ]; then
  "$node" node_modules/typescript/bin/tsc --noEmit -p . >&2
  "$node" node_modules/vitest/vitest.mjs run >&2
  exit 0
fi

# (the script itself too: how it builds is part of what it builds)
sources="$(find src public plugins index.html vite.config.ts tsconfig.json package-lock.json ../../scripts/web-client.sh -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
out="$dir/dist"
if [ "$(cat "$out/.sources" 2>/dev/null)" != "$sources" ]; then
  echo "web-client.sh: building the web client into $out" >&2
  "$node" node_modules/typescript/bin/tsc --noEmit -p . >&2
  NEXUS_WEB_OUT="$out" "$node" node_modules/vite/bin/vite.js build --logLevel warn >&2
  # Compressed once here, served as is by `nexus serve` (the crypto WASM
  # goes from 7.8 MB to 2.1 MB).
  find "$out" -type f \( -name '*.js' -o -name '*.css' -o -name '*.wasm' -o -name '*.html' \) -exec gzip -9 -k -f {} +
  echo "$sources" > "$out/.sources"
fi
echo "$out"
