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
# Go >= 1.24 (the suite's go.mod): the machine's (/usr/local/go), or the toolchain the Go module
# proxy serves as a module (Debian 12's golang-go is 1.19), unpacked into .tmp/go.
[[ -d /usr/local/go/bin ]] && PATH=/usr/local/go/bin:$PATH
go_is_recent() {
  command -v go >/dev/null 2>&1 &&
    go env GOVERSION | awk -F'[go.]' '{ exit !($3 > 1 || ($3 == 1 && $4 >= 24)) }'
}
if ! go_is_recent; then
  TOOLCHAIN=v0.0.1-go1.24.0.linux-amd64
  if [[ ! -x .tmp/go/bin/go ]]; then
    mkdir -p .tmp
    curl -fsSL -o .tmp/go.zip "https://proxy.golang.org/golang.org/toolchain/@v/$TOOLCHAIN.zip"
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' .tmp/go.zip .tmp/go-unpacked
    rm -rf .tmp/go && mv ".tmp/go-unpacked/golang.org/toolchain@$TOOLCHAIN" .tmp/go
    chmod +x .tmp/go/bin/* .tmp/go/pkg/tool/*/* && rm -rf .tmp/go.zip .tmp/go-unpacked
  fi
  PATH=$PWD/.tmp/go/bin:$PATH
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
