#!/usr/bin/env bash
# The chaos soak (README, "Chaos soak"): the whole suite on loopback under a steady acknowledged
# load while faults are injected at random; an independent checker reports per hop at the end.
#
#   scripts/soak.sh BUILD [--short] [soak options]     (make soak / make soak-short)
#
# --short is the form scripts/check.sh runs: 90 s of load at VX_SOAK_SHORT_RATE events/s (default
# 5000: what two shared cores keep under faults beside the broker and the whole suite), faults
# every 3..6 s. Options after it override its values; `BUILD/tests/soak/soak --help` lists them.
# A broker already running (VEXFS_KAFKA_BOOTSTRAP set, as in check.sh) is used, and killed and
# restarted by the broker fault; otherwise the script starts one of its own from VEXFS_KAFKA_DIR /
# VEXFS_KAFKA_PORT and stops it at the end. Needs root (tmpfs mount, packet filters).
# VX_SANITIZE=1 scripts/soak.sh build/san ... runs the ASan+UBSan+LSan build of the soak and the
# daemons (make SANITIZE=1 build/san/tests/soak/soak and the programs first).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${1:?usage: scripts/soak.sh BUILD [--short] [options]}
shift
args=()
if [ "${1:-}" = --short ]; then
  shift
  args=(--duration 90 --rate "${VX_SOAK_SHORT_RATE:-5000}" --fault-every 3000:6000 --hold 1000:3000
        --drain 120)
fi
[ -x "$BUILD/tests/soak/soak" ] || { echo "soak.sh: $BUILD/tests/soak/soak is not built (make soak builds it)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "soak.sh: the disk and partition faults need root (tmpfs mount, network namespaces)" >&2; exit 2; }

# VX_SANITIZE=1 with BUILD build/san: the sanitizers' settings of scripts/run-tests.sh.
if [ "${VX_SANITIZE:-0}" = 1 ]; then
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
fi
if [ -z "${VEXFS_KAFKA_BOOTSTRAP:-}" ]; then
  VEXFS_KAFKA_BOOTSTRAP=$(scripts/kafka.sh start)
  export VEXFS_KAFKA_BOOTSTRAP
  trap 'scripts/kafka.sh stop >/dev/null 2>&1 || true' EXIT
fi
if [ -z "${VEXFS_KAFKA_SECURITY_PROTOCOL:-}" ]; then
  kenv=$(scripts/kafka.sh env)
  eval "$kenv"
fi
# The suite's folders (configurations, daemon logs, state) under one folder of the run: removed
# when the soak passed, kept and named when it failed.
VX_TEST_TMP=$(mktemp -d /tmp/vexfs-soak.XXXXXX)
export VX_TEST_TMP
echo "soak.sh: Kafka at $VEXFS_KAFKA_BOOTSTRAP; $BUILD/tests/soak/soak ${args[*]} $*"
t0=$(date +%s)
rc=0
VX_BIN_DIR=$BUILD/bin "$BUILD/tests/soak/soak" "${args[@]}" "$@" || rc=$?
# What a run that ended on a failed assertion (which exits without its own clean-up) may have
# left: the disk fault's tmpfs under the run's folder, and the partition's network namespaces
# (vxc<PID>n*) of a soak process that is gone, with what still runs in them.
awk -v d="$VX_TEST_TMP/" 'index($2, d) == 1 {print $2}' /proc/mounts | xargs -r -n1 umount -l
{ ip netns list 2>/dev/null || true; } | awk '{print $1}' | { grep -E '^vxc[0-9]+n[0-9]+$' || true; } |
  while read -r ns; do
    pid=${ns#vxc}; pid=${pid%n*}
    kill -0 "$pid" 2>/dev/null && continue
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns delete "$ns" 2>/dev/null || true
  done
if [ "$rc" = 0 ]; then
  rm -rf "$VX_TEST_TMP"
else
  echo "soak.sh: the suite's folders (configurations, daemon logs, state) are kept in $VX_TEST_TMP"
fi
echo "soak.sh: finished in $(($(date +%s) - t0)) s, exit $rc"
exit "$rc"
