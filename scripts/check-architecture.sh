#!/usr/bin/env bash
# Enforces the layering rules of src/lib.rs:
# - arrows point down: no module imports one of a higher tier (check-tiers.py);
# - the domain (process/, fs/) never imports transport crates or wire types;
# - `unsafe` appears only under src/sys/;
# - only src/main.rs exits the process;
# - the Rust SDK builds no server: envd-sdk's normal dependencies hold no axum or
#   connectrpc-axum (envd-proto's `client` feature only).
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
if ! python3 scripts/check-tiers.py src; then
  fail=1
fi
if grep -rnE '\b(axum|connectrpc_axum|envd_proto|tonic|hyper|tower_http|http)::' src/process src/fs; then
  echo "error: the domain (src/process, src/fs) must not use transport crates" >&2
  fail=1
fi
if grep -rnE '\bunsafe\b' src --include='*.rs' | grep -v '^src/sys/' | grep -vE '^\S+:\s*//' ; then
  echo "error: unsafe code outside src/sys/" >&2
  fail=1
fi
if grep -rn 'process::exit' src --include='*.rs' | grep -v '^src/main.rs'; then
  echo "error: only src/main.rs may exit the process" >&2
  fail=1
fi
sdk_tree=$(cargo tree --locked --offline -p envd-sdk -e normal --prefix none)
if grep -E '^(axum|connectrpc-axum) ' <<<"$sdk_tree" | sort -u | grep .; then
  echo "error: envd-sdk depends on a server crate (above); it takes envd-proto with features = [\"client\"]" >&2
  fail=1
fi
[ "$fail" = 0 ] && echo "architecture rules hold"
exit "$fail"
