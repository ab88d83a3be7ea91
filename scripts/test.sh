#!/usr/bin/env bash
# Runs every test of the project: installs packages, builds (Release),
# runs unit tests and the end-to-end tests (real docker CLI against a live
# arcad), then builds the unit tests with ASan+UBSan and runs them.
# Usage: sudo scripts/test.sh        (CI: .ci/run calls exactly this)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}

scripts/install-deps.sh

echo "== build (Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$JOBS"

echo "== guest kernel of the VM sandbox (kernel/build.sh; cached in build/vm-cache)"
kernel/build.sh "$PWD/build/vm-cache" >/dev/null
export ARCA_VM_KERNEL="$PWD/build/vm-cache/kernel/current/vmlinux"

echo "== unit + e2e tests"
(cd build && ctest --output-on-failure --timeout 1500)

echo "== unit tests under ASan + UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DARCA_SANITIZE=ON -DARCA_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j"$JOBS" --target eventlog_test reducers_test engine_test image_test runtime_test api_test replay_test net_test builder_test
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest --output-on-failure -L unit --timeout 600)

echo "== all tests passed"
