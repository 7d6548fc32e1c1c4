#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs or removes the suite under a prefix: `make install` and `make uninstall` call this.
#
#   scripts/install.sh install|uninstall
#
# Environment (set by the Makefile): BUILD (the build folder), PREFIX, DESTDIR (staging root,
# may be empty), BINDIR, LIBDIR, INCLUDEDIR, MANDIR, COMPLETIONDIR, VERSION (the suite's),
# ABI and SOMAJOR (the library's: libvexfs.so.ABI, soname libvexfs.so.SOMAJOR) and REQUIRES
# (the packages libvexfs links, for vexfs.pc).
#
# What is installed:
#   BINDIR/                    the daemons, the producers and vexfsctl
#   LIBDIR/                    libvexfs.so.ABI, its links libvexfs.so.SOMAJOR and
#                              libvexfs.so, libvexfs.a, pkgconfig/vexfs.pc
#   INCLUDEDIR/vexfs/client.h
#   MANDIR/man1/vexfsctl.1, MANDIR/man8/vexfs-*.8 (from each program's --help)
#   COMPLETIONDIR/vexfsctl     bash completion
# The file list comes from the source tree (services/*/main.c), so uninstall removes exactly
# what install put there, also when the build folder is gone.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:?usage: scripts/install.sh install|uninstall}
: "${BUILD:?}" "${PREFIX:?}" "${BINDIR:?}" "${LIBDIR:?}" "${INCLUDEDIR:?}" "${MANDIR:?}"
: "${COMPLETIONDIR:?}" "${VERSION:?}" "${ABI:?}" "${SOMAJOR:?}"
DESTDIR=${DESTDIR:-}

# The programs: vexfs-<service> for every services/<service>/main.c, and vexfsctl.
programs=()
for main in services/*/main.c; do
    svc=$(basename "$(dirname "$main")")
    if [ "$svc" = ctl ]; then
        programs+=(vexfsctl)
    else
        programs+=("vexfs-$svc")
    fi
done
s_section() { [ "$1" = vexfsctl ] && echo 1 || echo 8; }

files=()
for p in "${programs[@]}"; do
    files+=("$BINDIR/$p" "$MANDIR/man$(s_section "$p")/$p.$(s_section "$p")")
done
files+=("$LIBDIR/libvexfs.so.$ABI" "$LIBDIR/libvexfs.so.$SOMAJOR" "$LIBDIR/libvexfs.so"
    "$LIBDIR/libvexfs.a" "$LIBDIR/pkgconfig/vexfs.pc" "$INCLUDEDIR/vexfs/client.h"
    "$COMPLETIONDIR/vexfsctl")

case $mode in
install)
    for p in "${programs[@]}"; do
        [ -x "$BUILD/bin/$p" ] || { echo "install: $BUILD/bin/$p is not built" >&2; exit 1; }
        install -D -m 0755 "$BUILD/bin/$p" "$DESTDIR$BINDIR/$p"
        sec=$(s_section "$p")
        man=$BUILD/man/$p.$sec
        [ -f "$man" ] || { echo "install: $man is not made (make install makes it)" >&2; exit 1; }
        install -D -m 0644 "$man" "$DESTDIR$MANDIR/man$sec/$p.$sec"
    done
    install -D -m 0755 "$BUILD/lib/libvexfs.so" "$DESTDIR$LIBDIR/libvexfs.so.$ABI"
    ln -sfn "libvexfs.so.$ABI" "$DESTDIR$LIBDIR/libvexfs.so.$SOMAJOR"
    ln -sfn "libvexfs.so.$SOMAJOR" "$DESTDIR$LIBDIR/libvexfs.so"
    install -D -m 0644 "$BUILD/lib/libvexfs.a" "$DESTDIR$LIBDIR/libvexfs.a"
    install -D -m 0644 include/vexfs/client.h "$DESTDIR$INCLUDEDIR/vexfs/client.h"
    install -D -m 0644 scripts/completion/vexfsctl "$DESTDIR$COMPLETIONDIR/vexfsctl"
    mkdir -p "$DESTDIR$LIBDIR/pkgconfig"
    sed -e "s|@PREFIX@|$PREFIX|" -e "s|@LIBDIR@|$LIBDIR|" -e "s|@INCLUDEDIR@|$INCLUDEDIR|" \
        -e "s|@VERSION@|$VERSION|" -e "s|@REQUIRES@|${REQUIRES:-}|" client/vexfs.pc.in \
        >"$DESTDIR$LIBDIR/pkgconfig/vexfs.pc"
    chmod 0644 "$DESTDIR$LIBDIR/pkgconfig/vexfs.pc"
    # The dynamic linker's cache, when installing for real into a system library folder.
    if [ -z "$DESTDIR" ] && [ "$(id -u)" = 0 ] && command -v ldconfig >/dev/null &&
        ldconfig -v 2>/dev/null | grep -q "^$LIBDIR:"; then
        ldconfig
    fi
    echo "install: ${#programs[@]} programs, libvexfs $ABI, its header, vexfs.pc, man pages and the vexfsctl completion under $DESTDIR$PREFIX"
    ;;
uninstall)
    n=0
    for f in "${files[@]}"; do
        if [ -e "$DESTDIR$f" ] || [ -L "$DESTDIR$f" ]; then
            rm -f "$DESTDIR$f"
            n=$((n + 1))
        fi
    done
    # Folders of ours left empty (never the prefix's own bin, lib, ...).
    rmdir "$DESTDIR$INCLUDEDIR/vexfs" 2>/dev/null || true
    echo "uninstall: removed $n files under $DESTDIR$PREFIX"
    ;;
*)
    echo "usage: scripts/install.sh install|uninstall" >&2
    exit 2
    ;;
esac
