#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Overhead of vexfs_events.ko on a file-heavy workload, inside Debian's kernel under qemu (the
# guest of scripts/kmod-test.sh): N times create a file, write 4 KiB, close, rename, unlink on
# tmpfs (tests/kmod/fileops_bench.c), three ways, each three times, interleaved:
#   without the module;
#   with the module, the workload under its prefix, a reader draining /dev/vexfs_events;
#   with the module loaded, the workload outside its prefixes (the cost of the hooks alone).
# qemu runs with -icount shift=0: the guest clock advances one nanosecond per instruction
# executed, so the figures are instruction counts, not the speed of the emulation on a shared
# machine. Prints the medians and their ratios to the run without the module.
#
#   scripts/kmod-bench.sh        (VX_KMOD_BENCH_FILES files per run, default 2000)
#
# Needs what scripts/kmod-test.sh needs (linux-headers-amd64, linux-image-amd64,
# qemu-system-x86, busybox-static, cpio); without them it says what is missing and exits 0,
# so `make bench` goes on.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=build/kmod-bench
N=${VX_KMOD_BENCH_FILES:-2000}
TIMEOUT_S=${VX_KMOD_TIMEOUT_S:-600}
echo "== kmod overhead: $N files created, written (4 KiB), renamed, unlinked per run"

missing=()
ls -d /usr/src/linux-headers-*-amd64 >/dev/null 2>&1 || missing+=(linux-headers-amd64)
ls /boot/vmlinuz-*-amd64 >/dev/null 2>&1 || missing+=(linux-image-amd64)
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
[ -x /bin/busybox ] || missing+=(busybox-static)
command -v cpio >/dev/null || missing+=(cpio)
if [ ${#missing[@]} -gt 0 ]; then
    echo "kmod-bench: skipped: missing ${missing[*]} (scripts/kmod-test.sh installs them as root)"
    exit 0
fi
KVER=$(ls -d /usr/src/linux-headers-*-amd64 | sed 's|.*/linux-headers-||' | sort -V | tail -1)
if [ ! -f "/boot/vmlinuz-$KVER" ]; then
    echo "kmod-bench: skipped: no /boot/vmlinuz-$KVER for the headers of $KVER"
    exit 0
fi
mkdir -p "$OUT"
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C kmod KVER="$KVER" >"$OUT/build.log" 2>&1 ||
    { cat "$OUT/build.log"; echo "kmod-bench: module build failed" >&2; exit 1; }

ROOT=$OUT/initramfs
rm -rf "$ROOT"
mkdir -p "$ROOT"/{bin,dev,proc,sys,mnt,tmp}
cp /bin/busybox "$ROOT/bin/busybox"
cp kmod/vexfs_events.ko "$ROOT/vexfs_events.ko"
gcc -static -O2 -Wall -Wextra -Werror -o "$ROOT/bin/fileops_bench" tests/kmod/fileops_bench.c
cat >"$ROOT/init" <<GUEST
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /mnt
stty -F /dev/ttyS1 raw -echo 2>/dev/null
exec 3>/dev/ttyS1
say() { echo "\$*" >&3; }
P=/sys/module/vexfs_events/parameters
mkdir -p /mnt/w
fileops_bench /mnt/w 200 >/dev/null   # warm caches once
for rep in 1 2 3; do
    say "BASE \$(fileops_bench /mnt/w $N)"
    insmod /vexfs_events.ko prefixes=/mnt/w ring_size=65536
    say "TRACED \$(fileops_bench /mnt/w $N --drain)"
    say "COUNTERS recorded=\$(cat \$P/recorded) dropped=\$(cat \$P/dropped)"
    echo /elsewhere > \$P/prefixes
    say "FILTERED \$(fileops_bench /mnt/w $N)"
    rmmod vexfs_events
done
say "GUEST-DONE"
poweroff -f
GUEST
chmod +x "$ROOT/init"
(cd "$ROOT" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$OUT/initramfs.gz"

rm -f "$OUT/out.txt"
start=$(date +%s)
rc=0
timeout "$TIMEOUT_S" qemu-system-x86_64 -kernel "/boot/vmlinuz-$KVER" -initrd "$OUT/initramfs.gz" \
    -append 'console=ttyS0 quiet panic=-1' -nographic -m 512 -no-reboot -cpu max \
    -icount shift=0 -monitor none -serial stdio -serial "file:$OUT/out.txt" \
    </dev/null >"$OUT/console.log" 2>&1 || rc=$?
tr -d '\r' <"$OUT/out.txt" >"$OUT/figures.txt" 2>/dev/null || true
if ! grep -q '^GUEST-DONE' "$OUT/figures.txt" 2>/dev/null; then
    echo "kmod-bench: guest did not finish (qemu exit $rc); console in $OUT/console.log" >&2
    exit 1
fi
median() { grep "^$1 " "$OUT/figures.txt" | awk '{print $2}' | sort -n | sed -n 2p; }
base=$(median BASE)
traced=$(median TRACED)
filtered=$(median FILTERED)
per() { awk -v t="$1" -v n="$N" 'BEGIN{printf "%.0f", t / n}'; }
ratio() { awk -v a="$1" -v b="$base" 'BEGIN{printf "%.3f", a / b}'; }
echo "guest ran $(( $(date +%s) - start )) s under qemu -icount shift=0 (guest ns = instructions), Debian $KVER"
echo "without the module                          $base ns ($(per "$base") per file; median of 3)"
echo "module, workload traced, records drained    $traced ns ($(per "$traced") per file)  ratio $(ratio "$traced")"
echo "module loaded, workload outside its prefix  $filtered ns ($(per "$filtered") per file)  ratio $(ratio "$filtered")"
echo "records per traced run: $(grep '^COUNTERS' "$OUT/figures.txt" | head -1 | cut -d' ' -f2-) (the module is loaded afresh for each run)"
