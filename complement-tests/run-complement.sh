#!/usr/bin/env bash
# Runs matrix-org/complement itself against Nexus. Needs Docker (a reachable
# daemon), Go and git; not part of scripts/test.sh, which runs our own
# re-expression of Complement's scenarios (see complement-tests/README.md).
#
#   complement-tests/run-complement.sh [options] [-- go test arguments]
#
# Options:
#   --complement-dir DIR  an existing Complement checkout (default: $COMPLEMENT_DIR,
#                         else a clone of $COMPLEMENT_REF in
#                         ~/.cache/nexus-complement/complement)
#   --image NAME          image to build and test (default complement-nexus:latest)
#   --no-build            test an image that is already built
#   --run REGEX           only the matching tests (go test -run), e.g. 'TestLogin|TestRegistration'
#   --packages PKGS       Go packages, relative to the checkout (default ./tests/...;
#                         e.g. ./tests/csapi)
#   --timeout DURATION    go test -timeout (default 90m)
#   --out DIR             where the go test JSON log and summary go
#                         (default ~/.cache/nexus-complement/run)
#   -h, --help            this text
# Anything after `--` goes to `go test` unchanged (e.g. -- -p 1 -parallel 2).
#
# Useful Complement variables (passed through from the environment):
#   COMPLEMENT_SHARE_ENV_PREFIX=PASS_  with PASS_NEXUS__LOGGING__LEVEL=debug etc.:
#                                      NEXUS__ overrides inside the containers
#   COMPLEMENT_ALWAYS_PRINT_SERVER_LOGS=1, COMPLEMENT_DEBUG=1,
#   COMPLEMENT_SPAWN_HS_TIMEOUT_SECS, COMPLEMENT_HOSTNAME_RUNNING_COMPLEMENT
#   (host.containers.internal for Podman), COMPLEMENT_ENABLE_DIRTY_RUNS=1.
#
# Output: the `go test -json` log in $OUT/complement.jsonl and, per
# Complement package group, how many top-level tests passed
# (complement-tests/baseline.py --complement-json), to set next to the
# published figures. Exit status: that of `go test`; 2 when this machine
# cannot run Complement (no Docker daemon, Go or git).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"

# The Complement commit the catalogue (complement-tests/catalogue.toml) was
# written against.
COMPLEMENT_REF="${COMPLEMENT_REF:-50044edb68c37c7ee4c1506f76d904d3d513fe2c}"
COMPLEMENT_REPO="${COMPLEMENT_REPO:-https://github.com/matrix-org/complement.git}"

complement_dir="${COMPLEMENT_DIR:-}"
image="complement-nexus:latest"
build=1
run_regex=""
packages="./tests/..."
timeout="90m"
out="${XDG_CACHE_HOME:-$HOME/.cache}/nexus-complement/run"
go_args=()

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --complement-dir) complement_dir="$2"; shift 2 ;;
    --image) image="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --run) run_regex="$2"; shift 2 ;;
    --packages) packages="$2"; shift 2 ;;
    --timeout) timeout="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; go_args=("$@"); break ;;
    *) echo "run-complement.sh: unknown option $1 (see --help)" >&2; exit 64 ;;
  esac
done

cannot_run() {
  echo "run-complement.sh: $1" >&2
  echo "run-complement.sh: Complement itself cannot run on this machine; nothing was done." >&2
  echo "run-complement.sh: our own re-expression of its scenarios runs without Docker: scripts/test.sh" >&2
  exit 2
}

command -v docker >/dev/null 2>&1 \
  || cannot_run "it needs Docker (https://docs.docker.com/engine/install/), and \`docker\` is not installed."
docker info >/dev/null 2>&1 \
  || cannot_run "the \`docker\` command is here but no Docker daemon answers (is dockerd running, and may this user use it?)."
command -v go >/dev/null 2>&1 \
  || cannot_run "it needs Go (https://go.dev/dl/) to run Complement's tests, and \`go\` is not installed."

if [ -z "$complement_dir" ]; then
  command -v git >/dev/null 2>&1 || cannot_run "it needs git to fetch Complement (or pass --complement-dir)."
  complement_dir="${XDG_CACHE_HOME:-$HOME/.cache}/nexus-complement/complement"
  if [ ! -d "$complement_dir/.git" ]; then
    echo "== fetching Complement into $complement_dir"
    git clone --quiet "$COMPLEMENT_REPO" "$complement_dir"
  fi
  if [ "$(git -C "$complement_dir" rev-parse HEAD)" != "$COMPLEMENT_REF" ]; then
    git -C "$complement_dir" fetch --quiet origin
    git -C "$complement_dir" -c advice.detachedHead=false checkout --quiet "$COMPLEMENT_REF"
  fi
fi
[ -f "$complement_dir/go.mod" ] || { echo "run-complement.sh: $complement_dir is not a Complement checkout" >&2; exit 64; }

if [ "$build" = 1 ]; then
  echo "== building $image (complement-tests/docker/Dockerfile, context $repo)"
  DOCKER_BUILDKIT=1 docker build -f "$here/docker/Dockerfile" -t "$image" "$repo"
fi

mkdir -p "$out"
log="$out/complement.jsonl"
args=(test -json -count=1 -timeout "$timeout")
[ -n "$run_regex" ] && args+=(-run "$run_regex")
args+=("${go_args[@]}")
read -r -a pkgs <<<"$packages"
args+=("${pkgs[@]}")

echo "== COMPLEMENT_BASE_IMAGE=$image go ${args[*]}   (in $complement_dir; log: $log)"
# The JSON log is kept whole; the terminal gets one line per finished test.
set +e
(cd "$complement_dir" && COMPLEMENT_BASE_IMAGE="$image" go "${args[@]}" 2>&1) \
  | tee "$log" | python3 "$here/baseline.py" --complement-progress
status=${PIPESTATUS[0]}
set -e

python3 "$here/baseline.py" --complement-json "$log" | tee "$out/summary.md"
echo "== go test exited with $status; full log: $log"
exit "$status"
