#!/usr/bin/env bash
# The packages users install, built and used as they would be:
# * `cargo package` of envd-proto and envd-sdk, each verified by building the packaged sources
#   (envd-sdk against the packaged-to-be envd-proto through a [patch], since neither is on
#   crates.io: both are `publish = false` today, so the archives carry no Cargo.lock);
# * `npm pack` of @envd/sdk, installed into an empty project from the tarball (its dependencies
#   from the npm registry) and imported from Node as ESM, through the package's `exports`, with
#   a client constructed (no request is made). The package declares no `require` condition, so
#   CommonJS is not claimed and not tested.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target_dir=${CARGO_TARGET_DIR:-$root/target}
cargo=${CARGO:-cargo}

echo "== cargo package envd-proto"
$cargo package --locked --allow-dirty --exclude-lockfile -p envd-proto
echo "== cargo package envd-sdk"
$cargo package --allow-dirty --exclude-lockfile -p envd-sdk \
  --config "patch.crates-io.envd-proto.path=\"$root/proto\""
ls -l "$target_dir"/package/envd-proto-*.crate "$target_dir"/package/envd-sdk-*.crate

echo "== npm pack @envd/sdk"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
npm run build -w @envd/sdk
tarball=$(npm pack -w @envd/sdk --pack-destination "$work" --json | node -e \
  'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].filename))')
tar -tzf "$work/$tarball" | sort > "$work/files.txt"
grep -qx 'package/dist/node.js' "$work/files.txt"
grep -qx 'package/dist/browser.d.ts' "$work/files.txt"
if grep -E '^package/(src|test)/' "$work/files.txt"; then
  echo "error: the tarball carries sources or tests (above)" >&2
  exit 1
fi
echo "$tarball: $(wc -l < "$work/files.txt") files"

echo "== install it into an empty project and import it"
mkdir "$work/app"
cd "$work/app"
echo '{"name":"envd-sdk-smoke","private":true,"type":"module"}' > package.json
npm install --no-audit --no-fund --loglevel=error "$work/$tarball"
cat > smoke.mjs <<'JS'
import assert from "node:assert/strict";
import { Envd, EnvdError, Code } from "@envd/sdk";
import * as node from "@envd/sdk/node";
import * as browser from "@envd/sdk/browser";

const envd = new Envd({ url: "http://127.0.0.1:1" });
assert.ok(envd.commands && envd.files, "a client with commands and files");
assert.equal(node.Envd, Envd, "the root entry is the node entry under Node");
assert.equal(typeof browser.Envd, "function");
assert.equal(typeof EnvdError, "function");
assert.equal(typeof Code, "object");
const version = (await import("@envd/sdk/package.json", { with: { type: "json" } })).default.version;
console.log(`@envd/sdk ${version}: imported as ESM, client constructed`);
JS
node smoke.mjs
