#!/usr/bin/env bash
# tmux for shell/tests/tmux.rs, which drives envd-shell in a real terminal.
# Idempotent: installs only when missing.
set -euo pipefail

if command -v tmux >/dev/null 2>&1; then
  echo "tmux present"
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
echo "installing tmux with apt-get..."
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends tmux >/dev/null
