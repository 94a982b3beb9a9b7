#!/usr/bin/env bash
# Makes sure the LiveKit judge venv exists and holds what the judges import:
# - livekit-api (LiveKit's token verifier, already used by
#   complement-tests/tests/livekit_token_service.rs);
# - livekit, LiveKit's real-time SDK (its native Rust client, shipped as a
#   wheel), which complement-tests/judges/livekit_rtc.py drives to join
#   rooms on Nexus's embedded SFU;
# - numpy, for the judge's FFT of the audio it receives.
# Idempotent: installs only what is missing. Messages go to stderr; the last
# line on stdout is the venv path, so callers can `venv="$(scripts/livekit-judge.sh)"`.
set -euo pipefail

# The same path scripts/test.sh and the token-service scenario use, so one
# venv serves both the token verifier and the rtc judge.
venv="${NEXUS_LIVEKIT_VENV:-$HOME/.cache/nexus-bench/livekit-venv}"

# Pinned: the judge's event callbacks and RoomOptions were checked against
# this release's livekit/rtc/room.py.
LIVEKIT_RTC_VERSION=1.2.1

if [ ! -x "$venv/bin/python" ]; then
  echo "livekit-judge.sh: creating $venv" >&2
  python3 -m venv "$venv"
fi

# Each requirement paired with the check that proves it installed; checked by
# importing (as the judges do) rather than trusting pip's metadata alone.
missing=()
"$venv/bin/python" -c 'import livekit.api' 2>/dev/null || missing+=('livekit-api>=1,<2')
"$venv/bin/python" -c "
import importlib.metadata, livekit.rtc
assert importlib.metadata.version('livekit') == '$LIVEKIT_RTC_VERSION'
" 2>/dev/null || missing+=("livekit==$LIVEKIT_RTC_VERSION")
"$venv/bin/python" -c 'import numpy' 2>/dev/null || missing+=('numpy')

if [ "${#missing[@]}" -gt 0 ]; then
  echo "livekit-judge.sh: installing ${missing[*]} into $venv" >&2
  # pip's own output would otherwise land on stdout, which is the caller's.
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${missing[@]}" >&2
  "$venv/bin/python" -c 'import livekit.api, livekit.rtc, numpy' >&2
fi

echo "$venv"
