#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The kernel's style checker, checkpatch.pl --strict, on every file of kmod/. Any finding
# (error, warning or check) fails (exit 1); exit 2 when checkpatch.pl cannot be had.
#
#   scripts/checkpatch.sh              fetch checkpatch.pl once if needed (see below)
#   scripts/checkpatch.sh --no-fetch   use it only if already at hand, else say why and exit 0
#
# Where checkpatch.pl comes from: Debian ships it only inside the kernel source tarball of the
# linux-source-6.1 package (/usr/src/linux-source-6.1.tar.xz, scripts/checkpatch.pl);
# linux-kbuild-6.1 and linux-headers-* do not carry it, and the image has no deb-src entries
# for `apt-get source linux`. So, in order: $CHECKPATCH; a copy extracted before into
# ~/.cache/vexfs/checkpatch/ ($VEXFS_CACHE); the installed tarball; the package fetched with
# `apt-get download linux-source-6.1` (139 MB, once; only checkpatch.pl, spelling.txt and
# const_structs.checkpatch are kept). It runs with --no-tree (kmod/ is an out-of-tree module).
set -euo pipefail
cd "$(dirname "$0")/.."

# Kept beside the Kafka jars, so a fresh clone (CI) does not fetch it again.
DIR=${VEXFS_CACHE:-$HOME/.cache/vexfs}/checkpatch
fetch=1
[ "${1:-}" = "--no-fetch" ] && fetch=0

s_extract() { # tarball
    local top
    top=$(basename "$1" .tar.xz) # linux-source-6.1.tar.xz holds linux-source-6.1/
    mkdir -p "$DIR"
    tar -xJf "$1" -C "$DIR" --strip-components=2 "$top/scripts/checkpatch.pl" \
        "$top/scripts/spelling.txt" "$top/scripts/const_structs.checkpatch"
}

CP=${CHECKPATCH:-}
if [ -z "$CP" ] && [ -x "$DIR/checkpatch.pl" ]; then
    CP=$DIR/checkpatch.pl
fi
if [ -z "$CP" ]; then
    tarball=$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -1 || true)
    if [ -n "$tarball" ]; then
        echo "checkpatch: extracting checkpatch.pl from $tarball"
        s_extract "$tarball"
        CP=$DIR/checkpatch.pl
    elif [ "$fetch" = 1 ] && command -v apt-get >/dev/null; then
        tmp=$(mktemp -d)
        trap 'rm -rf "$tmp"' EXIT
        echo "checkpatch: fetching linux-source-6.1 (Debian's kernel source, 139 MB, once)"
        if (cd "$tmp" && apt-get download linux-source-6.1 >/dev/null 2>&1); then
            dpkg-deb --fsys-tarfile "$tmp"/linux-source-6.1_*.deb |
                tar -x -C "$tmp" --wildcards './usr/src/linux-source-*.tar.xz'
            s_extract "$(ls "$tmp"/usr/src/linux-source-*.tar.xz)"
            CP=$DIR/checkpatch.pl
        fi
    fi
fi
if [ -z "$CP" ] || [ ! -f "$CP" ]; then
    why="not at hand (no \$CHECKPATCH, no $DIR/, no /usr/src/linux-source-*.tar.xz"
    [ "$fetch" = 1 ] && why="$why, and apt-get download linux-source-6.1 failed)" || why="$why; run scripts/checkpatch.sh to fetch it)"
    echo "checkpatch: skipped: checkpatch.pl $why" >&2
    [ "$fetch" = 1 ] && exit 2
    exit 0
fi

# The sources only, not what Kbuild generates beside them (vexfs_events.mod.c).
mapfile -t FILES < <(find kmod -maxdepth 1 -type f \( -name '*.c' -o -name '*.h' -o -name Kbuild \
    -o -name Makefile \) ! -name '*.mod.c' | sort)
out=$(perl "$CP" --no-tree --strict --terse --show-types --no-summary -f "${FILES[@]}" 2>&1 || true)
if [ -n "$out" ]; then
    printf '%s\n' "$out"
    echo "checkpatch: FAILED on kmod/" >&2
    exit 1
fi
echo "checkpatch: ok, ${#FILES[@]} files of kmod/ (--strict)"
