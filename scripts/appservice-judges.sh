#!/usr/bin/env bash
# Installs the application service judges into caches, once:
# - mautrix-python (PyPI `mautrix`, with python-olm for its crypto) into a
#   venv, NEXUS_APPSERVICE_VENV (default ~/.cache/nexus-appservice-venv);
# - matrix-appservice-bridge (npm) into NEXUS_APPSERVICE_JS_DIR (default
#   ~/.cache/nexus-appservice-js); Node 22 comes from the js-sdk judge
#   (scripts/js-judge.sh), as Debian's Node is older.
# Prints nothing on success; the scenarios in
# complement-tests/tests/appservice_judges.rs find the caches by these names.
set -euo pipefail
cd "$(dirname "$0")/.."

MAUTRIX_VERSION=0.21.1
PYTHON_OLM_VERSION=3.2.16
BRIDGE_VERSION=10.3.3

venv="${NEXUS_APPSERVICE_VENV:-$HOME/.cache/nexus-appservice-venv}"
stamp="mautrix-$MAUTRIX_VERSION-olm-$PYTHON_OLM_VERSION-e2be"
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$stamp" ]; then
  echo "appservice-judges.sh: installing mautrix $MAUTRIX_VERSION into $venv" >&2
  python3 -m venv "$venv"
  # What mautrix bridges install for end-to-bridge encryption.
  "$venv/bin/pip" install --quiet "mautrix==$MAUTRIX_VERSION" "python-olm==$PYTHON_OLM_VERSION" \
    unpaddedbase64 pycryptodome base58 aiohttp >&2
  echo "$stamp" > "$venv/.installed"
fi

js="${NEXUS_APPSERVICE_JS_DIR:-$HOME/.cache/nexus-appservice-js}"
stamp="matrix-appservice-bridge-$BRIDGE_VERSION"
if [ "$(cat "$js/.installed" 2>/dev/null)" != "$stamp" ]; then
  echo "appservice-judges.sh: installing matrix-appservice-bridge $BRIDGE_VERSION into $js" >&2
  mkdir -p "$js"
  (cd "$js" && { [ -f package.json ] || npm init -y >/dev/null; } \
    && npm install --no-audit --no-fund --loglevel=error "matrix-appservice-bridge@$BRIDGE_VERSION" >&2)
  # matrix-bot-sdk loads matrix-sdk-crypto-nodejs, whose native library is
  # downloaded from GitHub releases at install time (not from npm), which
  # this machine cannot reach. The judge's bridge does not encrypt, so an
  # empty binding stands in for it.
  shim="$js/node_modules/@matrix-org/matrix-sdk-crypto-nodejs-linux-x64-gnu"
  # (index.js prefers a downloaded library beside it, so the stand-in never
  # shadows a real one.)
  if ! compgen -G "$js/node_modules/@matrix-org/matrix-sdk-crypto-nodejs/*.node" >/dev/null; then
    mkdir -p "$shim"
    echo '{"name":"@matrix-org/matrix-sdk-crypto-nodejs-linux-x64-gnu","version":"0.0.0-stand-in","main":"index.js"}' >"$shim/package.json"
    echo 'module.exports = {};' >"$shim/index.js"
  fi
  echo "$stamp" > "$js/.installed"
fi
scripts/js-judge.sh >/dev/null
