#!/usr/bin/env bash
# The GCS test server: the Cloud Storage emulator inside the pinned firebase-tools package,
# started from Node by scripts/gcs-emulator.ts (no Java), bound to 127.0.0.1. firebase-tools (about
# 640 packages) is not a dependency of the project: the first start installs it into the state
# folder's tools/ (from the npm cache when warm), with install scripts off, so nothing is compiled
# (its re2 addon serves Hosting, not the storage emulator).
#
#   bash scripts/gcs-emulator.sh start     install if needed, stop a previous one, wipe its state, start, write gcs.env
#   bash scripts/gcs-emulator.sh stop      stop it by PID file (SIGTERM, then SIGKILL) and wipe its state (not tools/)
#   bash scripts/gcs-emulator.sh status    print the env file when it is running
#
#   BOARDS_GCS_DIR    state dir (default ${TMPDIR:-/tmp}/boards-gcs); holds gcs.env, the PID file, the log, blobs,
#                     and tools/ (the firebase-tools install, kept across runs; delete it to reinstall)
#   BOARDS_GCS_PORT   port (default 9199)
#
# The env file $BOARDS_GCS_DIR/gcs.env holds what the tests read:
#   set -a; . "$BOARDS_GCS_DIR/gcs.env"; set +a
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=${BOARDS_GCS_DIR:-${TMPDIR:-/tmp}/boards-gcs}
PORT=${BOARDS_GCS_PORT:-9199}
NODE="$ROOT/node_modules/.bin/node"
[ -x "$NODE" ] || NODE=node
FIREBASE_TOOLS_VERSION=15.34.2
TOOLS="$D/tools"

# Everything in the state dir but the firebase-tools install.
wipe_state() {
  [ -d "$D" ] || return 0
  find "$D" -mindepth 1 -maxdepth 1 ! -name tools -exec rm -rf {} +
}

install_tools() {
  local installed
  installed=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$TOOLS/node_modules/firebase-tools/package.json" 2>/dev/null || true)
  [ "$installed" = "$FIREBASE_TOOLS_VERSION" ] && return 0
  echo "# installing firebase-tools@$FIREBASE_TOOLS_VERSION into $TOOLS (install scripts off)" >&2
  rm -rf "$TOOLS"
  mkdir -p "$TOOLS"
  printf '{ "private": true, "dependencies": { "firebase-tools": "%s" } }\n' "$FIREBASE_TOOLS_VERSION" >"$TOOLS/package.json"
  (cd "$TOOLS" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error >"$TOOLS/install.log" 2>&1) || {
    echo "installing firebase-tools failed; see $TOOLS/install.log" >&2; tail -20 "$TOOLS/install.log" >&2; rm -rf "$TOOLS/node_modules"; exit 1
  }
}

stop() {
  local pid i
  [ -f "$D/pid" ] || return 0
  pid=$(cat "$D/pid")
  if kill "$pid" 2>/dev/null; then
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$D/pid"
}

case "${1:-}" in
  start) ;;
  stop) stop; wipe_state; echo "gcs emulator stopped"; exit 0 ;;
  status)
    if [ -f "$D/pid" ] && kill -0 "$(cat "$D/pid")" 2>/dev/null; then cat "$D/gcs.env"; exit 0; fi
    echo "gcs emulator not running" >&2; exit 1 ;;
  *) echo "usage: $0 start | stop | status" >&2; exit 2 ;;
esac

stop
wipe_state
mkdir -p "$D"
t0=$(date +%s)
install_tools
nohup "$NODE" "$ROOT/scripts/gcs-emulator.ts" --port "$PORT" --dir "$D" --tools "$TOOLS" >"$D/log" 2>&1 </dev/null &
echo $! >"$D/pid"
for _ in $(seq 1 100); do
  [ -f "$D/ready" ] && break
  kill -0 "$(cat "$D/pid")" 2>/dev/null || { echo "gcs emulator exited; see $D/log:" >&2; tail -20 "$D/log" >&2; exit 1; }
  sleep 0.2
done
[ -f "$D/ready" ] || { echo "gcs emulator did not come up on 127.0.0.1:$PORT; see $D/log" >&2; stop; exit 1; }

cat >"$D/gcs.env" <<EOF
BOARDS_TEST_GCS_ENDPOINT=http://127.0.0.1:$PORT
BOARDS_TEST_GCS_PROJECT=boards-test
BOARDS_TEST_GCS_EMULATOR=1
EOF
cat "$D/gcs.env"
echo "# ready in $(( $(date +%s) - t0 ))s (pid $(cat "$D/pid")); env file: $D/gcs.env; stop: $0 stop" >&2
