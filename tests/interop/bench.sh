#!/usr/bin/env bash
# Benchmarks (not run in CI): builds envd, starts it on 127.0.0.1:0, runs bench.mjs against it,
# stops it. Arguments go to bench.mjs (--runs N, --bytes N, --warmup N).
#
#   tests/interop/bench.sh                       # or: make bench
#   ENVD_PROFILE=debug tests/interop/bench.sh --runs 100
#
# ENVD_PROFILE=release (default) measures the optimised binary (the first build takes minutes:
# fat LTO, one codegen unit); ENVD_PROFILE=debug reuses the test build; ENVD_BIN=path measures
# that binary without building.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
PROFILE=${ENVD_PROFILE:-release}
WORK=.tmp/interop
mkdir -p "$WORK"

[[ -x node_modules/.bin/tsc && -d node_modules/e2b ]] || npm ci --no-audit --no-fund
if [[ -z ${ENVD_BIN:-} ]]; then
  if [[ $PROFILE == release ]]; then
    cargo build --quiet --release --bin envd
  else
    cargo build --quiet --bin envd
  fi
  ENVD_BIN=${CARGO_TARGET_DIR:-./target}/$PROFILE/envd
fi
rm -rf .tmp/interop-gen
node_modules/.bin/tsc -p tests/interop/tsconfig.json

# Scratch run dir, hosts file and drop_caches (the reclaimer would drop this machine's page cache).
SCRATCH=$WORK/bench-scratch
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH"
"$ENVD_BIN" --addr 127.0.0.1:0 --run-dir "$SCRATCH/run" --hosts-file "$SCRATCH/hosts" \
  --drop-caches "$SCRATCH/drop_caches" >"$WORK/bench-envd.stdout" 2>"$WORK/bench-envd.log" &
ENVD_PID=$!
trap 'kill "$ENVD_PID" 2>/dev/null; wait "$ENVD_PID" 2>/dev/null || true' EXIT
URL=
for _ in $(seq 100); do
  if [[ $(head -n 1 "$WORK/bench-envd.stdout") =~ listening\ on\ (http://[^ ]+)$ ]]; then
    URL=${BASH_REMATCH[1]}
    break
  fi
  sleep 0.1
done
[[ -n $URL ]] || { echo "envd did not start; see $WORK/bench-envd.log" >&2; exit 1; }
echo "envd ($ENVD_BIN) at $URL; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
ENVD_URL=$URL ENVD_PID=$ENVD_PID node tests/interop/bench.mjs "$@"
