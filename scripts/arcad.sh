#!/usr/bin/env bash
# Builds Arca if needed and starts arcad on its default socket
# (/var/run/arca.sock), with the VM sandbox's guest kernel. Extra arguments
# go to arcad.
# Usage: sudo scripts/arcad.sh [arcad flags]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"${JOBS:-2}"
# The VM sandbox's guest kernel (--runtime arca-vm): built once per machine
# into the default data root (about 10 minutes on 2 cores), then cached.
# ARCA_NO_VM=1 skips it (arcad then serves the namespace sandbox only).
if [ "${ARCA_NO_VM:-0}" != 1 ]; then
  echo "guest kernel: $(kernel/build.sh /var/lib/arca/vm)" >&2
fi
exec build/bin/arcad "$@"
