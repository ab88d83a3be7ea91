#!/usr/bin/env bash
# Installs every Debian 12 package that building and testing Arca needs.
# Idempotent: safe to run on every CI run. Needs root (or sudo).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
PKGS=(
  # build
  build-essential cmake pkg-config git
  libevent-dev libnghttp2-dev rapidjson-dev librocksdb-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libarchive-dev libspdlog-dev libgtest-dev libgmock-dev libbenchmark-dev
  libcurl4-openssl-dev libssl-dev libseccomp-dev
  # runtime
  runc crun busybox-static e2fsprogs iproute2 iptables procps util-linux
  # docker run --init: /usr/bin/tini-static is bind-mounted as /sbin/docker-init
  tini
  # the VM sandbox (issue #8): QEMU microvm, and what kernel/build.sh needs
  qemu-system-x86 linux-source-6.1 flex bison bc libelf-dev cpio xz-utils
  # tests and benches
  python3 curl socat
  # docker-compose 1.29 (Python) end-to-end tests
  docker-compose python3-docker
  # registry e2e fixtures (tests/e2e/registry_fixture.py)
  docker-registry apache2-utils zstd
  # libFuzzer targets (-DARCA_BUILD_FUZZ=ON)
  clang libclang-rt-14-dev
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
