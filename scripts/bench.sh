#!/usr/bin/env bash
# `make bench`: every benchmark, figures on stdout. Starts a Kafka broker for the journal
# figure unless VEXFS_KAFKA_BOOTSTRAP points at one.
#   VX_BENCH_EVENTS   events per throughput run (default 2,000,000)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
export VX_BIN_DIR=$PWD/$BUILD/bin
if [ -z "${VEXFS_KAFKA_BOOTSTRAP:-}" ]; then
  VEXFS_KAFKA_BOOTSTRAP=$(scripts/kafka.sh start)
  export VEXFS_KAFKA_BOOTSTRAP
  trap 'scripts/kafka.sh stop >/dev/null 2>&1 || true' EXIT
fi
for b in "$BUILD"/bench/bench_*; do
  echo "## $(basename "$b")"
  "$b" "${VX_BENCH_EVENTS:-2000000}"
  echo
done
