#!/usr/bin/env bash
# Installs the browser judge of the embedded SFU (complement-tests/browser)
# into a cache, once: livekit-client and playwright-core from its lock file,
# plus Debian's Chromium (through scripts/build-deps.sh), which playwright
# drives headless. It runs with the Node 22 the matrix-js-sdk judge installs
# (scripts/js-judge.sh), linked into the directory as `node`. Messages go to
# stderr; the last line on stdout is the directory (node_modules' parent),
# so callers can `dir="$(scripts/browser-judge.sh)"`.
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${NEXUS_BROWSER_DIR:-$HOME/.cache/nexus-browser}"
mkdir -p "$dir"
[ -x /usr/bin/chromium ] || scripts/build-deps.sh chromium
# Emoji glyphs for the web client's screenshots (reactions, verification).
[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || scripts/build-deps.sh fonts-noto-color-emoji
command -v npm >/dev/null || scripts/build-deps.sh npm

js_dir="$(scripts/js-judge.sh)"
ln -sfn "$js_dir/node_modules/.bin/node" "$dir/node"

stamp="$(sha256sum < complement-tests/browser/package-lock.json | cut -c1-16)"
if [ "$(cat "$dir/.installed" 2>/dev/null)" != "$stamp" ]; then
  echo "browser-judge.sh: installing livekit-client and playwright-core into $dir" >&2
  cp complement-tests/browser/package.json complement-tests/browser/package-lock.json "$dir/"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$stamp" > "$dir/.installed"
fi
echo "$dir"
