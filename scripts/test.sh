#!/usr/bin/env bash
# The whole test suite: starts a real S3-compatible server (moto, from PyPI) for the S3
# connector's tests, runs every test, and stops the server. Exit status is the tests'.
#
#   ./scripts/test.sh                 # everything
#   ./scripts/test.sh -E 'test(s3::)' # extra arguments go to cargo nextest
set -euo pipefail
cd "$(dirname "$0")/.."

# moto[server] in a private venv (reused between runs), unless moto_server is on PATH.
moto_server=$(command -v moto_server || true)
if [ -z "$moto_server" ]; then
  venv="${TRIBUTARY_MOTO_VENV:-$HOME/.cache/tributary-moto-venv}"
  if [ ! -x "$venv/bin/moto_server" ]; then
    echo "== installing moto[server] into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5,<6'
  fi
  moto_server="$venv/bin/moto_server"
fi

# A free port: bind port 0, read it back, release it.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
log=$(mktemp)
"$moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
cleanup() {
  kill "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT

export TRIBUTARY_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request; urllib.request.urlopen('$TRIBUTARY_TEST_S3_ENDPOINT/moto-api/')" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    echo "moto_server exited:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done
echo "== moto server (pid $moto_pid) at $TRIBUTARY_TEST_S3_ENDPOINT"

cargo nextest run --workspace --no-fail-fast "$@"
cargo test --workspace --doc --quiet
