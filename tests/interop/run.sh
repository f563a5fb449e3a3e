#!/usr/bin/env bash
# Interop suite: envd driven by clients we do not control.
#
#   tests/interop/run.sh            # or: make test-interop
#
# 1. Installs what is missing (npm ci for node_modules, .venv from requirements.txt), builds envd
#    (cargo build) and compiles sdk-ts/src/gen to .tmp/interop-gen for the Node scenarios.
# 2. Starts envd on 127.0.0.1:0 and reads the port from its first stdout line
#    (`envd <version> listening on http://127.0.0.1:PORT`).
# 3. Runs every scenario against it:
#      e2b-js.mjs           published e2b npm SDK (debug mode)
#      e2b_sync.py          published e2b PyPI SDK, sync Sandbox (debug mode)
#      e2b_async.py         published e2b PyPI SDK, AsyncSandbox (debug mode)
#      protocol-matrix.mjs  connect-node: Connect JSON/binary, gRPC, gRPC-Web x HTTP/1.1/h2c
#      buf-curl-examples.sh buf curl with --schema (every protocol) and via server reflection
# 4. Stops envd and prints `N passed, M failed` as the last line; exits 1 on any failure.
#
# Port: the SDKs' debug mode would use http://localhost:49983, but both honour E2B_SANDBOX_URL
# (JS ConnectionConfig.sandboxUrl, Python ConnectionConfig._sandbox_url), which wins over the
# debug host, so envd runs on a free port and the SDKs get E2B_SANDBOX_URL=http://127.0.0.1:PORT.
# ENVD_ADDR=127.0.0.1:49983 pins the port instead (e.g. for an SDK version that drops the
# override).
#
# Environment: ENVD_BIN=path runs that binary instead of building (e.g. a static release build);
# INTEROP_VERBOSE=1 prints stack traces; INTEROP_ONLY=e2b-js runs one suite.
#
# Known gaps: a case listed in tests/interop/known_failing.txt that fails is reported as XFAIL and
# does not fail the run; if it passes, the run fails until the line is removed (so the list only
# ever shrinks).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
HERE=tests/interop
WORK=.tmp/interop
mkdir -p "$WORK"
ENVD_ADDR=${ENVD_ADDR:-127.0.0.1:0}
SUITE_TIMEOUT=${SUITE_TIMEOUT:-300}

log() { echo "== $*" >&2; }

# --- 1. tools and build -------------------------------------------------------------------------
if [[ ! -x node_modules/.bin/buf || ! -d node_modules/e2b || package-lock.json -nt node_modules/.package-lock.json ]]; then
  log "npm ci"
  npm ci --no-audit --no-fund >&2 || exit 1
fi
if [[ ! -x .venv/bin/python || $HERE/requirements.txt -nt .venv/.installed ]]; then
  log "python venv .venv from $HERE/requirements.txt"
  rm -rf .venv && python3 -m venv .venv >&2 &&
    .venv/bin/pip install --quiet --disable-pip-version-check -r $HERE/requirements.txt >&2 &&
    touch .venv/.installed || exit 1
fi
if [[ -n ${ENVD_BIN:-} ]]; then
  log "using ENVD_BIN=$ENVD_BIN (no cargo build)"
else
  log "cargo build --bin envd"
  cargo build --quiet --bin envd >&2 || exit 1
  ENVD_BIN=${CARGO_TARGET_DIR:-./target}/debug/envd
fi
log "tsc: sdk-ts/src/gen -> .tmp/interop-gen"
rm -rf .tmp/interop-gen
node_modules/.bin/tsc -p $HERE/tsconfig.json >&2 || exit 1

# --- 2. envd ------------------------------------------------------------------------------------
ENVD_OUT=$WORK/envd.stdout
ENVD_LOG=$WORK/envd.log
# Scratch run dir, hosts file and drop_caches: envd must not touch this machine's /run/wrenn,
# /etc/hosts or page cache (the reclaimer writes drop_caches).
SCRATCH=$WORK/scratch
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH"
"$ENVD_BIN" --addr "$ENVD_ADDR" --run-dir "$SCRATCH/run" --hosts-file "$SCRATCH/hosts" \
  --drop-caches "$SCRATCH/drop_caches" >"$ENVD_OUT" 2>"$ENVD_LOG" &
ENVD_PID=$!
stop_envd() {
  if kill -0 "$ENVD_PID" 2>/dev/null; then
    kill -TERM "$ENVD_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$ENVD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$ENVD_PID" 2>/dev/null
  fi
  wait "$ENVD_PID" 2>/dev/null
}
trap stop_envd EXIT

URL=
for _ in $(seq 100); do
  line=$(head -n 1 "$ENVD_OUT" 2>/dev/null)
  if [[ $line =~ ^envd\ [^\ ]+\ listening\ on\ (http://[^ ]+)$ ]]; then
    URL=${BASH_REMATCH[1]}
    break
  fi
  kill -0 "$ENVD_PID" 2>/dev/null || break
  sleep 0.1
done
if [[ -z $URL ]]; then
  echo "envd did not announce its address; first stdout line: '$(head -n 1 "$ENVD_OUT")'" >&2
  tail -n 20 "$ENVD_LOG" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
log "envd $(head -n 1 "$ENVD_OUT" | cut -d' ' -f2) at $URL (log: $ENVD_LOG)"
export ENVD_URL=$URL ENVD=$URL E2B_DEBUG=true E2B_SANDBOX_URL=$URL
# Never let an inherited key or domain send the SDKs anywhere but envd.
unset E2B_API_KEY E2B_ACCESS_TOKEN E2B_DOMAIN E2B_API_URL

# --- 3. scenarios -------------------------------------------------------------------------------
passed=0
failed=0
skipped=0
xfailed=0
failures=()
xfailures=()
# Case ids (`suite/name`, the text between "FAIL " and ": ") expected to fail for now.
mapfile -t KNOWN < <(sed -e 's/[[:space:]]*#.*$//' -e '/^[[:space:]]*$/d' $HERE/known_failing.txt 2>/dev/null)
# is_known LINE: LINE is "PASS <id>" or "FAIL <id>: <why>" for an id in KNOWN. (Case names may
# themselves contain ": ", so ids are matched as prefixes rather than parsed out.)
is_known() {
  local k
  for k in "${KNOWN[@]}"; do
    [[ $1 == "PASS $k" || $1 == "FAIL $k: "* ]] && return 0
  done
  return 1
}

run_suite() {
  local name=$1 out rc p f s line
  shift
  if [[ -n ${INTEROP_ONLY:-} && $INTEROP_ONLY != "$name" ]]; then return; fi
  log "suite $name"
  out=$WORK/$name.out
  timeout --kill-after=10 "$SUITE_TIMEOUT" "$@" 2>"$WORK/$name.err" | tee "$out"
  rc=${PIPESTATUS[0]}
  p=0 f=0 s=0
  while IFS= read -r line; do
    case $line in
      "PASS "*)
        if is_known "$line"; then
          f=$((f + 1))
          failures+=("FAIL ${line#PASS }: listed in $HERE/known_failing.txt but passes now; remove it from the list")
        else
          p=$((p + 1))
        fi
        ;;
      "FAIL "*)
        if is_known "$line"; then
          xfailed=$((xfailed + 1))
          xfailures+=("$line")
        else
          f=$((f + 1))
          failures+=("$line")
        fi
        ;;
      "SKIP "*) s=$((s + 1)) ;;
    esac
  done <"$out"
  passed=$((passed + p))
  failed=$((failed + f))
  skipped=$((skipped + s))
  # A suite exits non-zero on any FAIL line, known or not; only a suite with none has crashed.
  if [[ $rc -ne 0 ]] && ! grep -q '^FAIL ' "$out"; then
    # The suite died (crash, timeout, import error) without reporting a failing case.
    failed=$((failed + 1))
    failures+=("FAIL $name: suite exited $rc without a FAIL line; stderr: $(tail -c 600 "$WORK/$name.err" | tr '\n' ' ')")
    echo "${failures[-1]}"
  elif [[ -s $WORK/$name.err && -n ${INTEROP_VERBOSE:-} ]]; then
    cat "$WORK/$name.err" >&2
  fi
}

run_suite e2b-js node $HERE/e2b-js.mjs
run_suite e2b-py-sync .venv/bin/python $HERE/e2b_sync.py
run_suite e2b-py-async .venv/bin/python $HERE/e2b_async.py
run_suite protocol-matrix node $HERE/protocol-matrix.mjs
run_suite buf-curl bash $HERE/buf-curl-examples.sh

if kill -0 "$ENVD_PID" 2>/dev/null; then
  passed=$((passed + 1))
  echo "PASS envd/still-running-after-all-suites"
else
  failed=$((failed + 1))
  failures+=("FAIL envd/still-running-after-all-suites: envd exited; see $ENVD_LOG")
  echo "${failures[-1]}"
  tail -n 20 "$ENVD_LOG"
fi
stop_envd
trap - EXIT

# --- 4. summary ---------------------------------------------------------------------------------
echo
if ((${#xfailures[@]})); then
  echo "Known failures (XFAIL, listed in $HERE/known_failing.txt):"
  printf '  %s\n' "${xfailures[@]}"
fi
if ((${#failures[@]})); then
  echo "Failures:"
  printf '  %s\n' "${failures[@]}"
fi
echo "$skipped skipped (SKIP lines above give the reason), $xfailed known failures"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
