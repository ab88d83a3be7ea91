#!/usr/bin/env bash
# Builds Arca if needed and starts arcad on its default socket
# (/var/run/arca.sock). Extra arguments go to arcad.
# Usage: sudo scripts/arcad.sh [arcad flags]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"${JOBS:-2}"
exec build/bin/arcad "$@"
