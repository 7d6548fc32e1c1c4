#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Short libFuzzer runs of every decoder of outside input (tests/fuzz/fuzz_*.c).
#
#   scripts/fuzz.sh [SECONDS]      seconds per target: argument, else $VX_FUZZ_SECONDS, else 30
#   VX_FUZZ_JOBS                   targets run at once (default: the number of cores)
#
# Each target and the library sources it needs are compiled with clang, libFuzzer, ASan and
# UBSan into build/fuzz/ (never the gcc objects: they carry no coverage instrumentation).
# A target runs over build/fuzz/corpus/<target>/, seeded from tests/fuzz/corpus/<target>/ and
# kept (minimised) between runs, so coverage accumulates on one machine while git holds only
# the seeds.
# Seeds of fuzz_batch are protobuf text format (*.txtpb), encoded here with protoc-c so they
# stay readable in review. Exit 1 when any target finds a crash, leak, timeout or UB; the
# input that did it is in build/fuzz/artifacts/<target>/.
set -euo pipefail

cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${1:-${VX_FUZZ_SECONDS:-30}}
if ! [[ $SECONDS_PER_TARGET =~ ^[0-9]+$ ]] || [ "$SECONDS_PER_TARGET" -lt 1 ]; then
    echo "usage: scripts/fuzz.sh [SECONDS]  (whole seconds per target, at least 1)" >&2
    exit 2
fi

OUT=build/fuzz
GEN_H=build/gen/vexfs/v1/event.pb-c.h
GEN_C=build/gen/vexfs/v1/event.pb-c.c
PROTO=proto/vexfs/v1/event.proto
CC=${FUZZ_CC:-clang}

# Only the library files the targets call; lib/vx_http.c, lib/vx_metrics.c and the Kafka
# producer stay out so a half-written or heavy module cannot break fuzzing.
LIB_SRC=(lib/vx_mem.c lib/vx_arena.c lib/vx_event.c lib/vx_event_check.c lib/vx_wire.c lib/vx_yaml.c lib/vx_config.c lib/vx_log.c)
PKGS="libczmq libzmq libprotobuf-c jansson yaml-0.1 lmdb libsodium"

if ! command -v "$CC" >/dev/null; then
    echo "fuzz: $CC not found (apt-get install clang libclang-rt-14-dev)" >&2
    exit 1
fi
make "$GEN_H" >/dev/null

# shellcheck disable=SC2054 # comma-separated sanitizer list, one argument
SAN=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
# shellcheck disable=SC2086 # PKGS is a list of package names
read -r -a PKG_CFLAGS <<<"$(pkg-config --cflags $PKGS)"
# shellcheck disable=SC2086
read -r -a PKG_LIBS <<<"$(pkg-config --libs $PKGS)"
CFLAGS=(-std=gnu11 -g -O1 -D_GNU_SOURCE -pthread -Wall -Wextra -Ilib -Iclient -Iinclude -Ibuild/gen "${PKG_CFLAGS[@]}")

mkdir -p "$OUT/obj"

# Rebuilds obj from src when src, a lib/ header, a header beside src (a service's own) or the
# generated header is newer.
s_compile() {
    local src=$1 obj=$2
    shift 2
    if [ -f "$obj" ] && [ -z "$(find "$src" lib/*.h client/*.h "$(dirname "$src")"/*.h "$GEN_H" -newer "$obj" 2>/dev/null | head -1)" ]; then
        return 0
    fi
    echo "  CC      $src (fuzz)"
    "$CC" "${CFLAGS[@]}" "$@" -c -o "$obj" "$src"
}

# -fsanitize=fuzzer-no-link instruments like -fsanitize=fuzzer without linking libFuzzer's
# main(): the library objects get the same coverage hooks as the targets.
objs=()
for src in "${LIB_SRC[@]}"; do
    obj=$OUT/obj/$(basename "${src%.c}").o
    s_compile "$src" "$obj" -Werror "${SAN[@]}" -fsanitize=fuzzer-no-link
    objs+=("$obj")
done
# The generated code is not ours to fix: compiled without -Werror, as the main build does.
gen_obj=$OUT/obj/event.pb-c.o
s_compile "$GEN_C" "$gen_obj" "${SAN[@]}" -fsanitize=fuzzer-no-link
objs+=("$gen_obj")

targets=()
for src in tests/fuzz/fuzz_*.c; do
    t=$(basename "${src%.c}")
    s_compile "$src" "$OUT/obj/$t.o" -Werror "${SAN[@]}" -fsanitize=fuzzer
    # A target names service sources it needs on a "fuzz-sources:" line of its own comment.
    extra=()
    for x in $(grep -o 'fuzz-sources:[^*]*' "$src" | sed 's/fuzz-sources://'); do
        xo=$OUT/obj/$t-$(basename "${x%.c}").o
        s_compile "$x" "$xo" -Werror "${SAN[@]}" -fsanitize=fuzzer-no-link
        extra+=("$xo")
    done
    echo "  LD      $OUT/$t"
    "$CC" -fsanitize=fuzzer "${SAN[@]}" -pthread -o "$OUT/$t" "$OUT/obj/$t.o" "${extra[@]}" \
        "${objs[@]}" "${PKG_LIBS[@]}" -lm
    targets+=("$t")
done

# Seeds into the working corpus; an encoded seed replaces an older one of the same name.
s_seed() {
    local t=$1 dir=$OUT/corpus/$1 f
    mkdir -p "$dir"
    for f in tests/fuzz/corpus/"$t"/*; do
        [ -f "$f" ] || continue
        case $f in
        *.txtpb)
            protoc-c --encode=vexfs.v1.EventBatch -I proto "$PROTO" <"$f" \
                >"$dir/seed-$(basename "${f%.txtpb}").pb"
            ;;
        *)
            cp "$f" "$dir/seed-$(basename "$f")"
            ;;
        esac
    done
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# One target's run, then its corpus minimised; its summary line goes to $OUT/$t.summary and
# its status to $OUT/$t.status (ok or FAILED), so targets can run side by side.
s_fuzz_one() {
    local t=$1 log=$OUT/$1.log seeds rc=0 cov0 cov1 execs status corp
    s_seed "$t"
    mkdir -p "$OUT/artifacts/$t"
    seeds=$(find "$OUT/corpus/$t" -type f | wc -l)
    echo "  FUZZ    $t for ${SECONDS_PER_TARGET}s over $seeds inputs (log: $log)"
    # -timeout: one input taking 10 s is a hang worth reporting, not something to wait out.
    "$OUT/$t" -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -max_len=65536 \
        -timeout=10 -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$t/" \
        "$OUT/corpus/$t" >"$log" 2>&1 || rc=$?
    # libFuzzer prints "#N INITED cov: C ..." once the corpus is loaded and "Done N runs"
    # at the end; the difference in cov is what this run discovered.
    cov0=$(sed -n 's/.*INITED cov: \([0-9]*\).*/\1/p' "$log" | head -1)
    cov1=$(sed -n 's/.*[A-Z]* cov: \([0-9]*\).*/\1/p' "$log" | tail -1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
    if [ "$rc" -ne 0 ]; then
        echo FAILED >"$OUT/$t.status"
        status="FAILED (exit $rc): $(grep -m1 -E 'ERROR: |runtime error:|==[0-9]+== *ABORTING|deadly signal|timeout' "$log" || echo 'see log')"
    else
        echo ok >"$OUT/$t.status"
        status=ok
        # libFuzzer never deletes inputs it loaded, so superseded ones pile up across runs:
        # keep only a minimal set with the same coverage.
        rm -rf "$OUT/corpus/$t.new"
        mkdir -p "$OUT/corpus/$t.new"
        if "$OUT/$t" -merge=1 -rss_limit_mb=2048 -max_len=65536 -timeout=10 \
            "$OUT/corpus/$t.new" "$OUT/corpus/$t" >"$OUT/$t.merge.log" 2>&1; then
            rm -rf "$OUT/corpus/$t"
            mv "$OUT/corpus/$t.new" "$OUT/corpus/$t"
        else
            rm -rf "$OUT/corpus/$t.new"
        fi
    fi
    corp=$(find "$OUT/corpus/$t" -type f | wc -l)
    printf '%-16s %10s execs  cov %5s (+%s new)  corpus %s -> %s  %s\n' \
        "$t" "${execs:-?}" "${cov1:-?}" "$(( ${cov1:-0} - ${cov0:-0} ))" "$seeds" "$corp" \
        "$status" >"$OUT/$t.summary"
}

# Each libFuzzer run is one process on one core: VX_FUZZ_JOBS of them (default: the cores) run
# at once.
jobs=${VX_FUZZ_JOBS:-$(nproc)}
running=0
for t in "${targets[@]}"; do
    rm -f "$OUT/$t.status" "$OUT/$t.summary"
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    s_fuzz_one "$t" &
    running=$((running + 1))
done
wait || true

failed=0
summary=()
for t in "${targets[@]}"; do
    [ "$(cat "$OUT/$t.status" 2>/dev/null)" = ok ] || failed=1
    summary+=("$(cat "$OUT/$t.summary" 2>/dev/null || echo "$t: no result (see $OUT/$t.log)")")
done

echo
for line in "${summary[@]}"; do
    echo "fuzz: $line"
done
if [ "$failed" -ne 0 ]; then
    echo "fuzz: failures; reproduce with build/fuzz/<target> build/fuzz/artifacts/<target>/<file>" >&2
    exit 1
fi
