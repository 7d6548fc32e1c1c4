#!/usr/bin/env bash
# `make bench`: every benchmark, figures on stdout, then the kernel module's overhead in a qemu
# guest (scripts/kmod-bench.sh; skipped with the reason when qemu or the kernel is missing). Starts a Kafka broker for the journal
# figure unless VEXFS_KAFKA_BOOTSTRAP points at one; a broker it starts also has a bench-only plaintext
# listener on VEXFS_KAFKA_BENCH_PLAIN_PORT (default VEXFS_KAFKA_PORT+3), the peer of the SASL_SSL journal.
#   VX_BENCH_EVENTS   events per throughput run of propagation and routing (default 2,000,000)
#   VX_BENCH_SECURITY_RUNS   runs of bench_security, CURVE/plain and HTTPS/plain (default 5)
# Every benchmark runs the suite secured, as the tests do: tests/support makes its keys and
# certificates and exports VEXFS_SECURITY_*, so each daemon it starts has CURVE and HTTPS; the
# baseline's programs (today's code) predate security and run plain, as their figures say.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
export VX_BIN_DIR=$PWD/$BUILD/bin
if [ -z "${VEXFS_KAFKA_BOOTSTRAP:-}" ]; then
  # Bench-only: a plaintext listener beside the SASL_SSL one, the journal benchmark's peer.
  export VEXFS_KAFKA_BENCH_PLAIN_PORT=${VEXFS_KAFKA_BENCH_PLAIN_PORT:-$(( ${VEXFS_KAFKA_PORT:-19092} + 3 ))}
  VEXFS_KAFKA_BOOTSTRAP=$(scripts/kafka.sh start)
  export VEXFS_KAFKA_BOOTSTRAP
  trap 'scripts/kafka.sh stop >/dev/null 2>&1 || true' EXIT
fi
# The broker's client settings (SASL_SSL), unless the caller gave its own.
if [ -z "${VEXFS_KAFKA_SECURITY_PROTOCOL:-}" ]; then
  kenv=$(scripts/kafka.sh env)
  eval "$kenv"
fi
# Today's code (the commit in bench/BASELINE), for benchmarks that measure it in the same run.
if [ -z "${VX_BASELINE_BIN_DIR:-}" ] && base=$(scripts/bench-baseline.sh); then
  export VX_BASELINE_BIN_DIR=$base/bin
fi
# Each benchmark's own defaults; the event-stream ones take VX_BENCH_EVENTS.
for b in "$BUILD"/bench/bench_*; do
  name=$(basename "$b")
  echo "## $name"
  case $name in
    bench_propagation|bench_routing_daemon) "$b" "${VX_BENCH_EVENTS:-2000000}" ;;
    bench_security) "$b" "${VX_BENCH_SECURITY_RUNS:-5}" ;;
    *) "$b" ;;
  esac
  echo
done
# The kernel module's overhead inside the qemu guest (says why and goes on when it cannot).
echo "## kmod-bench"
scripts/kmod-bench.sh
