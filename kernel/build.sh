#!/usr/bin/env bash
# Builds the VM sandbox's guest kernel (issue #8) from Debian's
# linux-source-6.1: `make tinyconfig`, then kernel/arca.config merged over it.
# The result is cached under CACHE/kernel/<key>/ (key: the source package's
# version, arca.config, this script and the compiler's version), so a machine
# builds it once. Prints the bzImage's path (vmlinux and .config beside it).
#
#   kernel/build.sh [CACHE]      CACHE defaults to /var/lib/arca/vm; JOBS=2
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${1:-/var/lib/arca/vm}
src=/usr/src/linux-source-6.1.tar.xz
jobs=${JOBS:-2}
for tool in make gcc flex bison bc; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install build-essential flex bison bc libelf-dev)" >&2; exit 1; }
done
[ -f "$src" ] || { echo "missing $src (apt-get install linux-source-6.1)" >&2; exit 1; }
key=$( { dpkg-query -W -f='${Version}' linux-source-6.1; cat "$here/arca.config" "$0"; gcc --version | head -1; } | sha256sum | cut -c1-16)
out=$cache/kernel/$key
# `current` names the kernel arcad boots by default (<data-root>/vm/kernel/current/vmlinux).
link_current() { ln -sfn "$key" "$cache/kernel/current.new" && mv -T "$cache/kernel/current.new" "$cache/kernel/current"; }
if [ -f "$out/bzImage" ]; then link_current; echo "$out/bzImage"; exit 0; fi
mkdir -p "$cache/kernel"
exec 9>"$cache/kernel/.lock"
flock 9
if [ -f "$out/bzImage" ]; then link_current; echo "$out/bzImage"; exit 0; fi
tmp=$(mktemp -d "$cache/kernel/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tar -xf "$src" -C "$tmp" --strip-components=1
make -s -C "$tmp" ARCH=x86_64 tinyconfig >&2
(cd "$tmp" && scripts/kconfig/merge_config.sh -m .config "$here/arca.config" >&2)
make -s -C "$tmp" ARCH=x86_64 olddefconfig >&2
# Every option asked for must have survived olddefconfig (dependencies).
missing=$(grep -E '^CONFIG_[A-Z0-9_]+=y' "$here/arca.config" | while read -r line; do
  grep -qx "$line" "$tmp/.config" || echo "${line%%=*}"; done)
[ -z "$missing" ] || echo "warning: not set after olddefconfig: $missing" >&2
make -s -C "$tmp" ARCH=x86_64 -j"$jobs" bzImage >&2
mkdir -p "$out.new"
# vmlinux too: an uncompressed ELF QEMU boots through its PVH entry
# (no decompression, which is slow under TCG).
cp "$tmp/arch/x86/boot/bzImage" "$tmp/vmlinux" "$tmp/.config" "$out.new/"
mv "$out.new" "$out"
link_current
echo "$out/bzImage"
