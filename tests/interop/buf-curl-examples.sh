#!/usr/bin/env bash
# `buf curl` against a running envd: a unary call and a server stream over every protocol envd
# serves, then the same without --schema through gRPC server reflection.
#
#   ENVD=http://127.0.0.1:49983 tests/interop/buf-curl-examples.sh
#
# tests/interop/run.sh runs this with ENVD set to the envd it started. Each `example` line below is
# a label, the regex the output must match, the exit status buf must return, and then the command
# itself, verbatim; README.md's `buf curl` section must list exactly these commands (checked last). `buf` is the one pinned in package.json.
# Notes: --schema proto compiles proto/ locally; buf curl always sends binary protobuf (the JSON is
# only how it prints messages), so Connect JSON is covered by protocol-matrix.mjs instead; gRPC
# needs HTTP/2, which over plain http:// means --http2-prior-knowledge (h2c).
set -uo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/node_modules/.bin:$PATH"
ENVD=${ENVD:-http://127.0.0.1:49983}
ENVD=${ENVD%/}

passed=0
failed=0

# example LABEL REGEX STATUS CMD...: run CMD, require exit STATUS and its output (newlines
# folded to spaces) to match REGEX.
example() {
  local label=$1 want=$2 want_rc=$3 out rc
  shift 3
  out=$("$@" 2>&1)
  rc=$?
  out=$(tr -s '\n ' '  ' <<<"$out") # one line, so the regex can span messages
  if [[ $rc -eq $want_rc ]] && grep -Eq -- "$want" <<<"$out"; then
    passed=$((passed + 1))
    echo "PASS buf-curl/$label"
  else
    failed=$((failed + 1))
    echo "FAIL buf-curl/$label: exit $rc (want $want_rc), output did not match /$want/: ${out:0:400}"
  fi
}

# What each server stream must print: the start event, stdout "hi\n" (base64 aGkK), a clean end.
START_OK='^\{ "event": \{ "start": \{ "pid": [0-9]+ .*"stdout": "aGkK".*"end": \{ "exited": true, "status": "exit status 0"'

# --- Connect (binary proto) over HTTP/1.1 ---
example connect/http1.1/unary '^\{' 0 \
  buf curl --schema proto --protocol connect --data '{}' "$ENVD/process.Process/List"
example connect/http1.1/stream "$START_OK" 0 \
  buf curl --schema proto --protocol connect --data '{"process":{"cmd":"/bin/echo","args":["hi"]}}' "$ENVD/process.Process/Start"

# --- Connect over h2c ---
example connect/h2c/unary '^\{' 0 \
  buf curl --schema proto --protocol connect --http2-prior-knowledge --data '{}' "$ENVD/process.Process/List"
example connect/h2c/stream "$START_OK" 0 \
  buf curl --schema proto --protocol connect --http2-prior-knowledge --data '{"process":{"cmd":"/bin/echo","args":["hi"]}}' "$ENVD/process.Process/Start"

# --- gRPC over h2c (gRPC requires HTTP/2) ---
example grpc/h2c/unary '^\{' 0 \
  buf curl --schema proto --protocol grpc --http2-prior-knowledge --data '{}' "$ENVD/process.Process/List"
example grpc/h2c/stream "$START_OK" 0 \
  buf curl --schema proto --protocol grpc --http2-prior-knowledge --data '{"process":{"cmd":"/bin/echo","args":["hi"]}}' "$ENVD/process.Process/Start"

# --- gRPC-Web over HTTP/1.1 and over h2c ---
example grpcweb/http1.1/unary '^\{' 0 \
  buf curl --schema proto --protocol grpcweb --data '{}' "$ENVD/process.Process/List"
example grpcweb/http1.1/stream "$START_OK" 0 \
  buf curl --schema proto --protocol grpcweb --data '{"process":{"cmd":"/bin/echo","args":["hi"]}}' "$ENVD/process.Process/Start"
example grpcweb/h2c/unary '^\{' 0 \
  buf curl --schema proto --protocol grpcweb --http2-prior-knowledge --data '{}' "$ENVD/process.Process/List"
example grpcweb/h2c/stream "$START_OK" 0 \
  buf curl --schema proto --protocol grpcweb --http2-prior-knowledge --data '{"process":{"cmd":"/bin/echo","args":["hi"]}}' "$ENVD/process.Process/Start"

# --- An error: not_found comes back as a Connect error; buf exits with 8 x code (5) = 40 ---
example connect/http1.1/error-not-found '"code": "not_found"' 40 \
  buf curl --schema proto --protocol connect --data '{"process":{"pid":2147483646},"signal":"SIGNAL_SIGKILL"}' "$ENVD/process.Process/SendSignal"

# --- No --schema: buf asks envd's gRPC server reflection for the descriptors ---
example reflection/list-services '(^| )process\.Process( |$)' 0 \
  buf curl --protocol grpc --http2-prior-knowledge --list-services "$ENVD"
example reflection/unary '^\{' 0 \
  buf curl --protocol grpc --http2-prior-knowledge --data '{}' "$ENVD/process.Process/List"
example reflection/stream "$START_OK" 0 \
  buf curl --protocol grpc --http2-prior-knowledge --data '{"process":{"cmd":"/bin/echo","args":["hi"]}}' "$ENVD/process.Process/Start"

# --- envd.pty.v1: a terminal's stream (started, output "hi\r\n" = aGkNCg== with its offset, exit), and List via reflection ---
example pty/connect/stream '^\{ "event": \{ "started": \{ "pid": [0-9]+, "pty": true.*"output": \{ "stream": "STREAM_PTY", "data": "aGkNCg==".*"exit": \{ "exited": true, "status": "exit status 0"' 0 \
  buf curl --schema proto --protocol connect --data '{"size":{"cols":80,"rows":24},"command":"/bin/echo","args":["hi"]}' "$ENVD/envd.pty.v1.Pty/Create"
example pty/reflection/unary '^\{' 0 \
  buf curl --protocol grpc --http2-prior-knowledge --data '{}' "$ENVD/envd.pty.v1.Pty/List"

# --- The README's buf curl block lists exactly the commands above, verbatim ---
script_cmds=$(grep -E '^  buf curl ' "$0" | sed 's/^  //' | sort)
readme_cmds=$(awk '/^## Calling envd by hand/{on=1} on && /^buf curl /' README.md | sort)
if [[ -n $script_cmds && $script_cmds == "$readme_cmds" ]]; then
  passed=$((passed + 1))
  echo "PASS buf-curl/readme-lists-these-commands"
else
  failed=$((failed + 1))
  echo "FAIL buf-curl/readme-lists-these-commands: README.md and $0 differ:"
  diff <(echo "$readme_cmds") <(echo "$script_cmds") | sed 's/^/    /'
fi

echo "# buf-curl: $passed passed, $failed failed, 0 skipped"
[[ $failed -eq 0 ]]
