#!/usr/bin/env bash
# Installs the discord.js judge (complement-tests/discord/js) into a cache,
# once, from its lock file, and prints the directory. It runs with the Node
# 22 the matrix-js-sdk judge installs (scripts/js-judge.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${NEXUS_DISCORD_JS_DIR:-$HOME/.cache/nexus-discord-js}"
mkdir -p "$dir"
command -v npm >/dev/null || scripts/build-deps.sh npm
stamp="$(sha256sum < complement-tests/discord/js/package-lock.json | cut -c1-16)"
if [ "$(cat "$dir/.installed" 2>/dev/null)" != "$stamp" ]; then
  echo "discord-js-judge.sh: installing discord.js into $dir" >&2
  cp complement-tests/discord/js/package.json complement-tests/discord/js/package-lock.json "$dir/"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$stamp" > "$dir/.installed"
fi
echo "$dir"
