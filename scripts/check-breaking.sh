#!/usr/bin/env bash
# Fails when proto/ breaks the last release's wire contract: `buf breaking` (WIRE_JSON, from
# buf.yaml) of the working tree's proto/ against proto/ at the commit named in proto/RELEASED,
# read from this repository's own history (buf's `.git` input; no network, no tags needed).
set -euo pipefail
cd "$(dirname "$0")/.."

read -r sha version < <(grep -v '^#' proto/RELEASED | grep -v '^[[:space:]]*$' | head -n 1)
if [[ ! $sha =~ ^[0-9a-f]{40}$ ]]; then
  echo "error: proto/RELEASED must hold a full 40-digit commit sha, found '$sha'" >&2
  exit 1
fi
if ! git cat-file -e "$sha^{commit}" 2>/dev/null; then
  echo "error: release $version ($sha) is not in this clone; a shallow clone needs" \
    "'git fetch --unshallow'" >&2
  exit 1
fi
if [[ ! -x node_modules/.bin/buf ]]; then
  npm ci --no-audit --no-fund
fi
git_dir=$(git rev-parse --git-common-dir)
node_modules/.bin/buf breaking proto --against "$git_dir#ref=$sha,subdir=proto"
echo "proto/ keeps the wire contract of $version ($sha)"
