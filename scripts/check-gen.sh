#!/usr/bin/env bash
# Fails when checked-in generated code no longer matches proto/: regenerates the TypeScript
# (`buf generate` -> sdk-ts/src/gen, clean: true) and the Rust (`cargo run -p envd-codegen` ->
# proto/src/gen) in place, then requires the work tree under both directories to equal the index/
# HEAD: no modified or deleted files (git diff) and no new untracked ones (git ls-files --others).
# On failure the regenerated files are left in place, so committing them is the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
GEN_DIRS=(proto/src/gen conformance/connect/src/gen sdk-ts/src/gen)

if [[ ! -x node_modules/.bin/buf ]]; then
  npm ci --no-audit --no-fund
fi
node_modules/.bin/buf generate
cargo run -q -p envd-codegen

status=0
if ! git diff --exit-code --stat -- "${GEN_DIRS[@]}"; then
  echo "error: generated code drifted from proto/ (diff above)" >&2
  status=1
fi
untracked=$(git ls-files --others --exclude-standard -- "${GEN_DIRS[@]}")
if [[ -n $untracked ]]; then
  echo "error: generated files not checked in:" >&2
  sed 's/^/  /' <<<"$untracked" >&2
  status=1
fi
if [[ $status -ne 0 ]]; then
  echo "fix: run 'make gen' (or this script) and commit ${GEN_DIRS[*]}" >&2
else
  echo "generated code is up to date: ${GEN_DIRS[*]}"
fi
exit $status
