#!/usr/bin/env bash
# Boots a kernel from kernel/build.sh in a QEMU microvm with a one-file
# initramfs (Debian's static busybox as /init) that prints a marker and
# reboots (reboot=t + -no-reboot: QEMU exits). Prints the accelerator, the
# guest's uptime at the marker and the wall time of the whole VM.
#
#   kernel/boot-probe.sh KERNEL [tcg|kvm] [extra QEMU -cpu value]
# KERNEL: bzImage, or vmlinux (booted through its PVH entry).
set -euo pipefail
kernel=$1
accel=${2:-tcg}
cpu=${3:-max}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/bin" "$work/root/dev" "$work/root/proc"
cp /bin/busybox "$work/root/bin/busybox"
mknod "$work/root/dev/console" c 5 1
cat > "$work/root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
echo "ARCA-PROBE-OK uptime=$(/bin/busybox cut -d' ' -f1 /proc/uptime)"
/bin/busybox reboot -f
INIT
chmod +x "$work/root/init"
(cd "$work/root" && find . | cpio -o -H newc 2>/dev/null) > "$work/initrd.cpio"
append="console=ttyS0 quiet loglevel=3 reboot=t panic=-1 random.trust_cpu=on rdinit=/init"
if [ "$accel" = tcg ]; then
  # TCG guests hang at TSC calibration without the host's TSC frequency.
  khz=$(awk '/cpu MHz/ {printf "%d", $4 * 1000; exit}' /proc/cpuinfo)
  append="$append tsc_early_khz=$khz tsc=reliable"
fi
start=$(date +%s%N)
out=$(timeout 60 qemu-system-x86_64 -M microvm,acpi=off,isa-serial=on -accel "$accel" -cpu "$cpu" \
  -m 128M -smp 1 -nodefaults -no-user-config -display none -no-reboot -serial stdio \
  -kernel "$kernel" -initrd "$work/initrd.cpio" -append "$append" 2>&1) || true
end=$(date +%s%N)
marker=$(grep -o 'ARCA-PROBE-OK.*' <<<"$out" | tr -d '\r' || true)
echo "accel=$accel cpu=$cpu kernel=$(basename "$kernel") ${marker:-NO MARKER} wall_ms=$(( (end - start) / 1000000 ))"
[ -n "$marker" ]
