#!/usr/bin/env bash
# Tools tests/it/lifecycle_fsfreeze.rs uses to make and clean up its own loop-mounted
# ext4 image: mkfs.ext4 (e2fsprogs), mount/umount/losetup and fsfreeze
# (util-linux, mount). Idempotent: installs only what is missing.
set -euo pipefail

missing=()
command -v mkfs.ext4 >/dev/null 2>&1 || missing+=(e2fsprogs)
command -v fsfreeze >/dev/null 2>&1 || missing+=(util-linux)
command -v losetup >/dev/null 2>&1 || missing+=(mount)
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "lifecycle test tools present"
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
echo "installing ${missing[*]} with apt-get..."
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
