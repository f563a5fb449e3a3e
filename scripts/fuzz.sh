#!/usr/bin/env bash
# Runs every fuzz target in fuzz/targets under AFL++ (cargo-afl, stable Rust)
# for SECONDS each, starting from its seed corpus in fuzz/corpus. Fails if a
# target finds a crash or a hang; the inputs are copied to
# fuzz/findings/<target>/ — fix the bug, then move them to
# fuzz/regressions/<target>/, which `cargo test` replays from then on.
# Usage: scripts/fuzz.sh [SECONDS]   (make fuzz: 600; make fuzz-smoke: 20)
set -euo pipefail
seconds=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"
if ! cargo afl --version >/dev/null 2>&1; then
  # Installing also builds AFL++ and its runtime for this rustc.
  cargo install cargo-afl --version 0.18.2 --locked
fi
cargo afl build --release --locked
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
failed=0
printf '%-12s %12s %10s %8s %8s\n' target executions exec/s paths findings
for source in targets/*.rs; do
  name=$(basename "$source" .rs)
  if ! cargo afl fuzz -V "$seconds" -i "corpus/$name" -o "$out/$name" "target/release/$name" \
      >"$out/$name.log" 2>&1; then
    echo "$name: afl-fuzz failed:"; tail -20 "$out/$name.log"; failed=1; continue
  fi
  stats="$out/$name/default/fuzzer_stats"
  field() { awk -F' *: *' -v k="$1" '$1==k {print $2}' "$stats"; }
  findings=0
  for kind in crashes hangs; do
    for input in "$out/$name/default/$kind"/id:*; do
      [ -e "$input" ] || continue
      mkdir -p "$root/fuzz/findings/$name"
      cp "$input" "$root/fuzz/findings/$name/$kind-$(basename "$input" | tr ':,' '__')"
      findings=$((findings + 1))
    done
  done
  printf '%-12s %12s %10s %8s %8s\n' "$name" "$(field execs_done)" "$(field execs_per_sec)" \
    "$(field corpus_count)" "$findings"
  [ "$findings" -eq 0 ] || failed=1
done
if [ "$failed" -ne 0 ]; then
  echo "fuzzing found problems; inputs are in fuzz/findings/" >&2
  exit 1
fi
