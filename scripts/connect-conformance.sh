#!/usr/bin/env bash
# The official Connect conformance suite (connectrpc.com/conformance v1.0.5) in server mode against
# conformance/connect, a ConformanceService served through envd's own listener and protocol stack.
# Installs connectconformance with Go from the module proxy on first use (into .tmp/bin).
# Arguments go to connectconformance (e.g. --run 'Basic/**' -v).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=v1.0.5
BIN=$PWD/.tmp/bin
RUNNER=$BIN/connectconformance
# Go as the machine ships it (/usr/local/go) or from Debian.
[[ -d /usr/local/go/bin ]] && PATH=/usr/local/go/bin:$PATH
if ! command -v go >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go
fi
if [[ ! -x $RUNNER ]] || ! "$RUNNER" --version 2>/dev/null | grep -q "$VERSION"; then
  mkdir -p "$BIN"
  GOBIN=$BIN GOFLAGS=-mod=mod go install "connectrpc.com/conformance/cmd/connectconformance@$VERSION"
fi
cargo build --quiet -p envd-conformance-connect
SERVER=${CARGO_TARGET_DIR:-$PWD/target}/debug/envd-conformance-connect
# The runner repeats every known failure's details; the whole report goes to a log and only
# the verdict (and any unexpected result) to the terminal.
LOG=$PWD/.tmp/connect-conformance.log
status=0
"$RUNNER" --mode server \
  --conf conformance/connect/config.yaml \
  --known-failing @conformance/connect/known_failing.txt \
  "$@" -- "$SERVER" >"$LOG" 2>&1 || status=$?
if ((status != 0)); then
  grep -E -A8 '^(FAILED|INDETERMINATE|--- )' "$LOG" | grep -v 'failed as expected' || true
  echo "connectconformance exited $status; full report: $LOG"
fi
grep -E '^(Total cases|[0-9]+ passed|\(Another)' "$LOG"
exit "$status"
