#!/usr/bin/env bash
# The shipped binary: `make release`, then prove it is what we ship.
#
#   scripts/check-release.sh        # or: make check-release (part of make test)
#
# 1. Builds it with `make release` (glibc target, +crt-static, profile dist).
# 2. Static: `file` says static-pie linked (so ASLR still applies), `readelf` finds no NEEDED
#    library and no INTERP (no dynamic loader), and no glibc function that loads shared libraries
#    at run time was linked in. Each such function carries a `.gnu.warning.<name>` section
#    ("Using 'getpwnam' in statically linked applications requires at runtime the shared
#    libraries..."), which ends up in the binary; rust-lld does not print these warnings, so the
#    sections are what is checked. Allowed: dlopen/dlmopen, which every static Rust binary
#    links (std's weak-symbol lookup) and envd never calls. NSS functions (getpw*, getgr*,
#    getaddrinfo, ...) fail the check: identity/ reads /etc/passwd and /etc/group itself.
# 3. Size: at most 5 MiB (5,242,880 bytes) stripped.
# 4. Runs: `--version`; started on 127.0.0.1:0 with scratch run dir, hosts file and
#    drop_caches, it answers /health and resolves users from /etc/passwd (a /files download as
#    root, an unknown user rejected).
# 5. The e2b SDK interop suites against that binary (ENVD_BIN=... tests/interop/run.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
MAX_BYTES=$((5 * 1024 * 1024))
BIN=$(make --no-print-directory -s release-path)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/envd-check-release.XXXXXX")
ENVD_PID=
cleanup() {
  if [[ -n $ENVD_PID ]] && kill -0 "$ENVD_PID" 2>/dev/null; then
    kill -TERM "$ENVD_PID" 2>/dev/null || true
    wait "$ENVD_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

log() { echo "== $*" >&2; }
fail() {
  echo "check-release: FAIL: $*" >&2
  exit 1
}

# --- 1. build ------------------------------------------------------------------------------------
log "make release"
start=$SECONDS
make --no-print-directory release >&2
log "build took $((SECONDS - start)) s"

# --- 2. static -----------------------------------------------------------------------------------
info=$(file -b "$BIN")
echo "file: $info"
# static-pie, not plain static: the image keeps ASLR.
[[ $info =~ static-pie\ linked ]] || fail "$BIN is not static-pie: $info"
needed=$(readelf -dW "$BIN" | grep '(NEEDED)' || true)
[[ -z $needed ]] || fail "$BIN needs shared libraries: $needed"
if readelf -lW "$BIN" | grep -q 'INTERP'; then fail "$BIN has a program interpreter"; fi
warned=$(readelf -SW "$BIN" | grep -o '\.gnu\.warning\.[A-Za-z0-9_]*' | sed 's/^\.gnu\.warning\.//' |
  sort -u | tr '\n' ' ')
warned=${warned% }
unexpected=$(tr ' ' '\n' <<<"$warned" | grep -vxE 'dlopen|dlmopen|' || true)
[[ -z $unexpected ]] || fail "$BIN links glibc functions that need shared libraries at run time: $unexpected"
echo "readelf: no NEEDED, no INTERP; glibc link warnings only for: ${warned:-none} (allowed)"

# --- 3. size -------------------------------------------------------------------------------------
size=$(stat -c %s "$BIN")
echo "size: $size bytes (limit $MAX_BYTES)"
((size <= MAX_BYTES)) || fail "$BIN is $size bytes, over $MAX_BYTES"

# --- 4. runs -------------------------------------------------------------------------------------
version=$("$BIN" --version)
echo "--version: $version"
[[ -n $version ]] || fail "--version printed nothing"

mkdir -p "$WORK/scratch"
"$BIN" --addr 127.0.0.1:0 --run-dir "$WORK/scratch/run" --hosts-file "$WORK/scratch/hosts" \
  --drop-caches "$WORK/scratch/drop_caches" >"$WORK/envd.stdout" 2>"$WORK/envd.log" &
ENVD_PID=$!
URL=
for _ in $(seq 100); do
  line=$(head -n 1 "$WORK/envd.stdout" 2>/dev/null || true)
  if [[ $line =~ ^envd\ [^\ ]+\ listening\ on\ (http://[^ ]+)$ ]]; then
    URL=${BASH_REMATCH[1]}
    break
  fi
  kill -0 "$ENVD_PID" 2>/dev/null || break
  sleep 0.1
done
[[ -n $URL ]] || fail "envd did not announce its address: $(head -c 300 "$WORK/envd.log")"
code=$(curl -sS -o /dev/null -w '%{http_code}' "$URL/health")
echo "GET /health: $code"
[[ $code == 2* ]] || fail "/health answered $code"
echo "static envd $$" >"$WORK/probe"
got=$(curl -fsS "$URL/files?path=$WORK/probe&username=root")
[[ $got == "static envd $$" ]] || fail "GET /files as root returned '$got'"
code=$(curl -sS -o /dev/null -w '%{http_code}' "$URL/files?path=$WORK/probe&username=no-such-user-xyz")
echo "GET /files as root: ok; as an unknown user: $code"
[[ $code == 4* ]] || fail "GET /files as an unknown user answered $code"
kill -TERM "$ENVD_PID"
wait "$ENVD_PID" || fail "envd exited $? on SIGTERM; log: $(tail -c 300 "$WORK/envd.log")"
ENVD_PID=

# --- 5. interop ----------------------------------------------------------------------------------
log "e2b SDK interop suites against $BIN"
ENVD_BIN=$BIN tests/interop/run.sh
echo "check-release: ok ($BIN, $size bytes)"
