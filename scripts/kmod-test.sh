#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds kmod/vexfs_events.ko (W=1, warnings are errors), runs checkpatch.pl --strict on kmod/
# (scripts/checkpatch.sh), and tests it in Debian's own kernel
# under qemu (software emulation; no KVM needed): a tiny initramfs with busybox, the module
# and a static reader performs file operations in the guest, the records leave through a
# second serial port, and this script checks them on the host: every expected operation with
# its fields, overflow drops counted (and visible as sequence gaps), clean unload with a
# writer still running and records still queued.
#
#   scripts/kmod-test.sh            build, boot, check (about 10-30 s)
#   scripts/kmod-test.sh --build    build only (what CI's compile check needs)
#
# Packages: linux-headers-amd64 linux-image-amd64 qemu-system-x86 busybox-static cpio
# (installed with --no-install-recommends when missing and running as root).
# Output: build/kmod/ (events.out: the guest's data port, console.log, records/*.bin).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=build/kmod
TIMEOUT_S=${VX_KMOD_TIMEOUT_S:-100}
mkdir -p "$OUT"

s_need() {
    local missing=()
    ls -d /usr/src/linux-headers-*-amd64 >/dev/null 2>&1 || missing+=(linux-headers-amd64)
    ls /boot/vmlinuz-*-amd64 >/dev/null 2>&1 || missing+=(linux-image-amd64)
    command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
    [ -x /bin/busybox ] || missing+=(busybox-static)
    command -v cpio >/dev/null || missing+=(cpio)
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "kmod-test: missing packages: ${missing[*]}" >&2
            exit 1
        fi
        echo "kmod-test: installing ${missing[*]}"
        apt-get install -y --no-install-recommends "${missing[@]}" >"$OUT/apt.log" 2>&1 ||
            { apt-get update >/dev/null && apt-get install -y --no-install-recommends \
                "${missing[@]}" >"$OUT/apt.log" 2>&1; }
    fi
}

s_need
# Headers and image of the same version: the newest pair installed.
KVER=$(ls -d /usr/src/linux-headers-*-amd64 | sed 's|.*/linux-headers-||' | sort -V | tail -1)
[ -f "/boot/vmlinuz-$KVER" ] || { echo "kmod-test: no /boot/vmlinuz-$KVER" >&2; exit 1; }

echo "kmod-test: building vexfs_events.ko for $KVER with W=1 (warnings are errors)"
# A clean make environment: run from `make check`, the parent's jobserver flags would only
# draw make's own "jobserver unavailable" warning into the log checked below.
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C kmod KVER="$KVER" >"$OUT/build.log" 2>&1 ||
    { cat "$OUT/build.log"; exit 1; }
if grep -E '(^|[^a-z])warning:' "$OUT/build.log" | grep -v '^make'; then
    echo "kmod-test: FAIL: compiler warnings" >&2
    exit 1
fi
echo "  ok   module builds without warnings"
# The kernel's own style checker (scripts/checkpatch.sh says where it comes from).
cp_rc=0
scripts/checkpatch.sh || cp_rc=$?
case $cp_rc in
    0) echo "  ok   checkpatch --strict finds nothing in kmod/" ;;
    2) echo "kmod-test: FAIL: checkpatch.pl could not be had (see above)" >&2; exit 1 ;;
    *) echo "kmod-test: FAIL: checkpatch findings in kmod/" >&2; exit 1 ;;
esac
[ "${1:-}" = "--build" ] && exit 0

# ---- initramfs ----------------------------------------------------------------------------
ROOT=$OUT/initramfs
rm -rf "$ROOT"
mkdir -p "$ROOT"/{bin,dev,proc,sys,mnt,tmp}
cp /bin/busybox "$ROOT/bin/busybox"
cp kmod/vexfs_events.ko "$ROOT/vexfs_events.ko"
gcc -static -O2 -Wall -Wextra -Werror -Ikmod -o "$ROOT/bin/vexfs_reader" tests/kmod/vexfs_reader.c
cat >"$ROOT/init" <<'GUEST'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /mnt
stty -F /dev/ttyS1 raw -echo 2>/dev/null
exec 3>/dev/ttyS1
say() { echo "$*" >&3; }
P=/sys/module/vexfs_events/parameters
mkdir -p /mnt/w /mnt/other
insmod /vexfs_events.ko prefixes=/mnt/w ring_size=64 capture_reads=0
say "INSMOD rc=$?"
say "PARAM prefixes=$(cat $P/prefixes)"
# Writable at run time: add a second prefix, then take it away again.
echo /mnt/w,/mnt/x > $P/prefixes
say "PARAM prefixes2=$(cat $P/prefixes)"
echo /mnt/w > $P/prefixes
echo bad-not-absolute > $P/prefixes 2>/dev/null
say "PARAM badset_rc=$? prefixes3=$(cat $P/prefixes)"

vexfs_reader --idle-ms 1500 >&3 &
READER=$!
sleep 1
# ---- the operations the host expects, in order ----
echo hello > /mnt/w/a.txt                         # create + write 6
printf 'abc' >> /mnt/w/a.txt                      # open_write + write 3 at offset 6
dd if=/dev/zero of=/mnt/w/big bs=1000 count=5 2>/dev/null   # create + 5 writes coalesced
mkdir /mnt/w/d
mv /mnt/w/a.txt /mnt/w/d/b.txt                    # rename old -> new
chmod 600 /mnt/w/d/b.txt                          # setattr mode
chown 1234:5678 /mnt/w/d/b.txt                    # setattr uid/gid
truncate -s 2 /mnt/w/d/b.txt                      # setattr size
dd if=/mnt/w/d/b.txt of=/dev/null 2>/dev/null    # read: not captured (capture_reads=0)
rm /mnt/w/d/b.txt                                 # unlink
rmdir /mnt/w/d                                    # rmdir
rmdir /mnt/w/nonexistent 2>/dev/null              # fails: no record
echo no > /mnt/other/x                            # outside the prefix: no record
echo 1 > $P/capture_reads
dd if=/mnt/w/big of=/dev/null bs=1000 2>/dev/null  # 5 reads: one record of 5000
echo 0 > $P/capture_reads
wait $READER
say "COUNTERS recorded=$(cat $P/recorded) dropped=$(cat $P/dropped) coalesced=$(cat $P/coalesced) missed=$(cat $P/missed)"

# ---- /proc/vexfs_events: the same records, for a reader holding CAP_AUDIT_READ ----
say "PROC-MODE $(stat -c %a /proc/vexfs_events)"
vexfs_reader --path /proc/vexfs_events --drop-audit-read --idle-ms 100 >&3
vexfs_reader --path /proc/vexfs_events --idle-ms 1500 >/tmp/proc.out &
PREADER=$!
sleep 0.5
vexfs_reader --idle-ms 100 >&3                    # the device while /proc is held: busy
echo viaproc > /mnt/w/p.txt
rmmod vexfs_events 2>/dev/null
say "RMMOD-WHILE-PROC-READER rc=$?"
wait $PREADER
sed -n 's/^REC /PREC /p; s/^READER-ERROR/PROC-READER-ERROR/p' /tmp/proc.out >&3

# ---- no reader: 10 writes fold into one unread record; then 200 creates overflow the ring ----
dd if=/dev/zero of=/mnt/w/co bs=100 count=10 2>/dev/null
i=0
while [ $i -lt 200 ]; do : > /mnt/w/f$i; i=$((i+1)); done
say "OVERFLOW dropped=$(cat $P/dropped)"
vexfs_reader --idle-ms 500 --count 10 >&3
say "AFTER-DRAIN dropped=$(cat $P/dropped) coalesced=$(cat $P/coalesced)"

# ---- unload with records queued and a writer running ----
i=0
while [ $i -lt 100 ]; do : > /mnt/w/g$i; i=$((i+1)); done
(while :; do echo x >> /mnt/w/busy; done) &
WRITER=$!
sleep 0.3
rmmod vexfs_events
say "RMMOD rc=$?"
kill $WRITER
say "LSMOD $(grep -c vexfs_events /proc/modules)"
dmesg | grep -E 'BUG|WARNING|Oops|general protection|leak' | sed 's/^/DMESG-BAD /' >&3
dmesg | grep vexfs_events | sed 's/^/DMESG /' >&3
say "GUEST-DONE"
poweroff -f
GUEST
chmod +x "$ROOT/init"
(cd "$ROOT" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$OUT/initramfs.gz"

# ---- boot ---------------------------------------------------------------------------------
rm -f "$OUT/events.out"
echo "kmod-test: booting /boot/vmlinuz-$KVER under qemu (timeout ${TIMEOUT_S}s)"
start=$(date +%s)
rc=0
timeout "$TIMEOUT_S" qemu-system-x86_64 -kernel "/boot/vmlinuz-$KVER" -initrd "$OUT/initramfs.gz" \
    -append 'console=ttyS0 quiet panic=-1 oops=panic' -nographic -m 512 -no-reboot -cpu max \
    -monitor none -serial stdio -serial "file:$OUT/events.out" </dev/null >"$OUT/console.log" 2>&1 ||
    rc=$?
echo "kmod-test: guest ran $(( $(date +%s) - start )) s (qemu exit $rc)"
tr -d '\r' <"$OUT/events.out" >"$OUT/events.txt"

# ---- checks on the host -------------------------------------------------------------------
fails=0
s_check() { # description, then a command that must succeed
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then
        echo "  ok   $what"
    else
        echo "  FAIL $what"
        fails=$((fails + 1))
    fi
}
E=$OUT/events.txt
rec() { grep '^REC ' "$E" | grep -E -- "$1"; }
# Field value of the first record matching a pattern.
field() { rec "$1" | head -1 | tr ' ' '\n' | sed -n "s/^$2=//p"; }

s_check "guest finished (GUEST-DONE on the data port)" grep -q '^GUEST-DONE' "$E"
s_check "module loaded" grep -q '^INSMOD rc=0' "$E"
s_check "prefixes parameter reads back" grep -q '^PARAM prefixes=/mnt/w$' "$E"
s_check "prefixes writable through sysfs" grep -q '^PARAM prefixes2=/mnt/w,/mnt/x$' "$E"
s_check "bad prefix refused, old value kept" grep -qE '^PARAM badset_rc=[1-9].* prefixes3=/mnt/w$' "$E"
s_check "create /mnt/w/a.txt" rec 'op=create path=/mnt/w/a.txt '
s_check "write 6 bytes at 0 to a.txt" rec 'op=write path=/mnt/w/a.txt .* size=6 offset=0 '
s_check "open for write (append) of a.txt" rec 'op=open_write path=/mnt/w/a.txt '
s_check "append 3 bytes at offset 6, file size 9" rec 'op=write path=/mnt/w/a.txt .* size=3 offset=6 file_size=9 '
s_check "5 writes of 1000 to big: 5000 bytes from offset 0, at most 5 records" \
    test "$(rec 'op=write path=/mnt/w/big ' | sed 's/.* size=\([0-9]*\) .*/\1/' | awk '{t+=$1} END{print t "/" NR}')" = "5000/$(rec 'op=write path=/mnt/w/big ' | wc -l)"
s_check "10 unread writes coalesced into one record (count=10, 1000 bytes)" rec 'op=write path=/mnt/w/co .* size=1000 offset=0 file_size=1000 .* count=10 '
s_check "mkdir /mnt/w/d" rec 'op=mkdir path=/mnt/w/d '
s_check "rename a.txt -> d/b.txt" rec 'op=rename path=/mnt/w/a.txt path2=/mnt/w/d/b.txt '
s_check "rename keeps the inode of a.txt" test "$(field 'op=rename' ino)" = "$(field 'op=create path=/mnt/w/a.txt ' ino)"
s_check "chmod 600 (mode 100600, attr mode)" rec 'op=setattr path=/mnt/w/d/b.txt .* mode=100600 attr=1 '
s_check "chown 1234:5678" rec 'op=setattr path=/mnt/w/d/b.txt .* attr=6 new_uid=1234 new_gid=5678 '
s_check "truncate to 2 bytes" rec 'op=setattr path=/mnt/w/d/b.txt .* size=2 .*attr=8 '
s_check "unlink d/b.txt" rec 'op=unlink path=/mnt/w/d/b.txt '
s_check "rmdir d" rec 'op=rmdir path=/mnt/w/d '
s_check "failed rmdir leaves no record" test -z "$(rec 'nonexistent')"
s_check "path outside the prefixes leaves no record" test -z "$(rec 'path=/mnt/other')"
s_check "reads captured while capture_reads=1 (5000 bytes of big in all)" \
    test "$(rec 'op=read path=/mnt/w/big ' | sed 's/.* size=\([0-9]*\) .*/\1/' | awk '{t+=$1} END{print t}')" = 5000
s_check "no read of b.txt (capture_reads was 0)" test -z "$(rec 'op=read path=/mnt/w/d')"
s_check "pid, tgid, uid and comm filled" rec 'op=mkdir .* pid=[1-9][0-9]* tgid=[1-9][0-9]* uid=0 .* comm=mkdir'
s_check "timestamps and inodes nonzero" test -n "$(grep '^HEX ' "$E" | head -1)"
s_check "sequence of the first phase is contiguous from 1" \
    test "$(grep '^REC ' "$E" | sed -n '1,/op=read/p' | sed 's/.* seq=\([0-9]*\) .*/\1/' | awk 'NR!=$1{bad=1} END{print bad+0}')" = 0
s_check "no probe hit missed" grep -qE '^COUNTERS .* dropped=0 .* missed=0' "$E"
s_check "/proc/vexfs_events made with mode 0400" grep -q '^PROC-MODE 400$' "$E"
s_check "/proc/vexfs_events refuses a reader without CAP_AUDIT_READ" \
    grep -q '^READER-ERROR open /proc/vexfs_events: Operation not permitted' "$E"
s_check "one reader between the two paths: the device is busy while /proc is read" \
    grep -q '^READER-ERROR open /dev/vexfs_events: Device or resource busy' "$E"
s_check "records read through /proc (create and write of p.txt)" \
    sh -c "grep -q '^PREC .*op=create path=/mnt/w/p.txt ' '$E' && grep -q '^PREC .*op=write path=/mnt/w/p.txt .* size=8 ' '$E'"
s_check "no error for the /proc reader" test -z "$(grep '^PROC-READER-ERROR' "$E")"
s_check "the module stays loaded while /proc is read (rmmod refused)" \
    grep -qE '^RMMOD-WHILE-PROC-READER rc=[1-9]' "$E"
s_check "coalesced counter counts the 9 folded writes" test "$(sed -n 's/^AFTER-DRAIN .*coalesced=//p' "$E")" -ge 9
dropped=$(sed -n 's/^OVERFLOW dropped=//p' "$E")
s_check "overflow: 200 creates into a 64-record ring drop at least 136 (dropped=${dropped:-?})" \
    test "${dropped:-0}" -ge 136
s_check "overflow never blocked the filesystem (all 200 files made; guest went on)" grep -q '^AFTER-DRAIN' "$E"
s_check "unload with records queued and a writer running" grep -q '^RMMOD rc=0' "$E"
s_check "module gone after rmmod" grep -q '^LSMOD 0' "$E"
s_check "no BUG/WARNING/Oops in the kernel log" test -z "$(grep '^DMESG-BAD' "$E")"

# Keep the raw records as fixtures for the forwarder's tests (one .bin per record).
mkdir -p "$OUT/records"
n=0
while read -r _ hex; do
    n=$((n + 1))
    printf '%s' "$hex" | xxd -r -p >"$OUT/records/rec-$(printf %03d $n).bin" 2>/dev/null || true
done < <(grep '^HEX ' "$E" | head -40)
echo "kmod-test: $(grep -c '^REC ' "$E") records received; raw copies in $OUT/records/"
if [ $fails -ne 0 ]; then
    echo "kmod-test: $fails checks FAILED (data: $E, console: $OUT/console.log)" >&2
    exit 1
fi
echo "kmod-test: all checks passed"
