#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Static analysis of lib/, services/ and client/ (libvexfs): cppcheck, then clang-tidy with the
# checks in .clang-tidy; then checkpatch.pl --strict on kmod/ when it is at hand
# (scripts/checkpatch.sh). Any finding fails (exit 1).
#
#   scripts/lint.sh BUILD_DIR      BUILD_DIR holds gen/ (make lint generates it first)
#
# Both tools see the code as the build compiles it: gnu11, _GNU_SOURCE, the version macro,
# lib/ and the generated protobuf headers, and (clang-tidy) the pkg-config flags of the
# packages listed in mk/flags.mk. Suppress a single finding in place with a comment that
# says why: "// cppcheck-suppress <id>" or "NOLINT(<check>)"; a check that is wrong for the
# whole tree is disabled in .clang-tidy (or below, for cppcheck) with its reason.
set -euo pipefail

cd "$(dirname "$0")/.."

BUILD=${1:-build}
GEN=$BUILD/gen
if [ ! -f "$GEN/vexfs/v1/event.pb-c.h" ]; then
    echo "lint: $GEN/vexfs/v1/event.pb-c.h missing: run 'make lint' (it generates it)" >&2
    exit 2
fi
for tool in cppcheck clang-tidy; do
    if ! command -v "$tool" >/dev/null; then
        echo "lint: $tool not found (apt-get install cppcheck clang-tidy)" >&2
        exit 2
    fi
done

VERSION=$(cat VERSION 2>/dev/null || echo 0.0.0)
mapfile -t SRC < <(find lib services client -name '*.c' | sort)

failed=0
start=$(date +%s)

# ---- cppcheck -----------------------------------------------------------------------------
# cppcheck is not given the system include path (parsing glibc slows it down and adds noise),
# so the version macros that protobuf-c's generated header tests in an #if come from the
# installed protobuf-c.h: without them that header hits its #error and cppcheck silently
# skips every file that includes it.
PBC_H=$(pkg-config --variable=includedir libprotobuf-c 2>/dev/null || echo /usr/include)/protobuf-c/protobuf-c.h
PBC_DEFS=()
for macro in PROTOBUF_C_VERSION_NUMBER PROTOBUF_C_MIN_COMPILER_VERSION; do
    value=$(sed -n "s/^#define[[:space:]]*${macro}[[:space:]]*\([0-9]*\).*/\1/p" "$PBC_H" | head -1)
    PBC_DEFS+=("-D$macro=${value:?lint: $macro not found in $PBC_H}")
done

# Suppressed for the whole tree:
#   missingIncludeSystem  system headers are deliberately not parsed (see above).
#   varFuncNullUB         label lists end in a NULL sentinel (vx_metrics_counter and
#                         friends, declared __attribute__((sentinel))). glibc's NULL is
#                         ((void *)0), which C11 7.16.1.1 lets va_arg read as a char *;
#                         cppcheck warns for platforms where NULL is a plain 0.
echo "  CPPCHECK lib/ services/ client/"
if ! cppcheck --quiet --enable=warning,performance,portability --error-exitcode=1 \
    --inline-suppr --std=c11 --suppress=missingIncludeSystem --suppress=varFuncNullUB \
    --template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
    -I lib -I include -I "$GEN" -D_GNU_SOURCE -DVX_VERSION="\"$VERSION\"" "${PBC_DEFS[@]}" \
    lib services client; then
    failed=1
fi
cppcheck_s=$(($(date +%s) - start))

# ---- clang-tidy ---------------------------------------------------------------------------
PKGS=$(sed -n 's/^PKGS[[:space:]]*:=[[:space:]]*//p' mk/flags.mk)
# shellcheck disable=SC2086 # PKGS is a list of package names
read -r -a PKG_CFLAGS <<<"$(pkg-config --cflags $PKGS)"
TIDY_FLAGS=(-std=gnu11 -D_GNU_SOURCE "-DVX_VERSION=\"$VERSION\"" -Ilib -Iinclude "-I$GEN" "${PKG_CFLAGS[@]}")

# One clang-tidy per file, two at a time; a file's findings print together once it is done.
# The "N warnings generated" lines count diagnostics in system headers that .clang-tidy
# already filters out, so they are dropped.
echo "  TIDY     ${#SRC[@]} files"
tidy_start=$(date +%s)
# shellcheck disable=SC2016 # the script is for the inner bash: $1 is the file, then the flags
if ! printf '%s\n' "${SRC[@]}" | xargs -P2 -I{} bash -c '
    file=$1; shift
    out=$(clang-tidy --quiet "$file" -- "$@" 2>&1); rc=$?
    out=$(printf "%s\n" "$out" | grep -Ev "^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$" || true)
    if [ -n "$out" ]; then printf "%s\n" "$out"; fi
    exit $rc' _ {} "${TIDY_FLAGS[@]}"; then
    failed=1
fi
tidy_s=$(($(date +%s) - tidy_start))

# ---- checkpatch on kmod/ --------------------------------------------------------------------
# Only when checkpatch.pl is at hand (scripts/checkpatch.sh fetches it; make kmod does too).
if ! scripts/checkpatch.sh --no-fetch; then
    failed=1
fi

if [ "$failed" -ne 0 ]; then
    echo "lint: FAILED (cppcheck ${cppcheck_s}s, clang-tidy ${tidy_s}s)" >&2
    exit 1
fi
echo "lint: ok, ${#SRC[@]} files (cppcheck ${cppcheck_s}s, clang-tidy ${tidy_s}s)"
