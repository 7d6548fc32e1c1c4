#!/usr/bin/env bash
# Runs every test program of a build against real parts: unit tests (Check), then integration
# tests that start the real daemons, with one real Kafka broker for the whole run.
#   scripts/run-tests.sh [BUILD_DIR]      (default build; build/san for the sanitized build)
# Temporary directories: one folder per run (VX_TEST_TMP), removed when every program passed.
# Environment: VX_TEST_FILTER (substring of test program names), VX_KEEP_KAFKA=1 (leave the
# broker running afterwards), VEXFS_KAFKA_BOOTSTRAP (a broker already running; its client settings
# come from `scripts/kafka.sh env` unless VEXFS_KAFKA_SECURITY_PROTOCOL is set too).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
export VX_BIN_DIR=$PWD/$BUILD/bin
export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-60}
if [ "${VX_SANITIZE:-0}" = 1 ]; then
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
  export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-3}
fi

mapfile -t tests < <(find "$BUILD/tests" -type f -name 'test_*' -perm -u+x | sort)
if [ -n "${VX_TEST_FILTER:-}" ]; then
  mapfile -t tests < <(printf '%s\n' "${tests[@]}" | grep -- "$VX_TEST_FILTER" || true)
fi
[ ${#tests[@]} -gt 0 ] || { echo "run-tests: no test programs under $BUILD/tests (run make first)" >&2; exit 1; }

# One broker for the whole run; tests read its address from VEXFS_KAFKA_BOOTSTRAP and its client
# settings (SASL_SSL: the CA, the SCRAM user and its password file) from VEXFS_KAFKA_SECURITY_*, which
# every daemon a test starts inherits as kafka_security overrides.
if [ -z "${VEXFS_KAFKA_BOOTSTRAP:-}" ]; then
  # Stop the broker at the end only if this run started it.
  started=1
  scripts/kafka.sh status >/dev/null 2>&1 && started=0
  VEXFS_KAFKA_BOOTSTRAP=$(scripts/kafka.sh start)
  export VEXFS_KAFKA_BOOTSTRAP
  if [ "$started" = 1 ] && [ "${VX_KEEP_KAFKA:-0}" != 1 ]; then
    trap 'scripts/kafka.sh stop >/dev/null 2>&1 || true' EXIT
  fi
fi
# The caller may give settings of its own (another broker); otherwise those of scripts/kafka.sh's broker.
if [ -z "${VEXFS_KAFKA_SECURITY_PROTOCOL:-}" ]; then
  kenv=$(scripts/kafka.sh env)
  eval "$kenv"
fi
echo "run-tests: Kafka at $VEXFS_KAFKA_BOOTSTRAP ($VEXFS_KAFKA_SECURITY_PROTOCOL${VEXFS_KAFKA_SECURITY_SASL_USERNAME:+, user $VEXFS_KAFKA_SECURITY_SASL_USERNAME})"

logdir=$BUILD/test-logs
mkdir -p "$logdir"
# The tests' temporary directories (daemons' state, logs, keys) go under one folder of this run,
# removed at the end when every program passed and kept (its path printed) when one failed.
VX_TEST_TMP=$(mktemp -d /tmp/vexfs-run.XXXXXX)
chmod 755 "$VX_TEST_TMP" # tests that run steps as an unprivileged user chmod their own folders
export VX_TEST_TMP
failed=()
start_all=$(date +%s)
for t in "${tests[@]}"; do
  name=${t#"$BUILD"/tests/}
  log=$logdir/${name//\//_}.log
  t0=$(date +%s)
  if "$t" >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$name")
  fi
  summary=$(grep -E '^[0-9]+%: Checks' "$log" | tail -1 || true)
  printf '%-40s %-6s %4ss  %s\n' "$name" "$status" "$(( $(date +%s) - t0 ))" "$summary"
  if [ "$status" = FAILED ]; then
    echo "---- $log (last 60 lines) ----"
    tail -n 60 "$log"
    echo "----"
  fi
done
echo "run-tests: ${#tests[@]} programs, ${#failed[@]} failed, $(( $(date +%s) - start_all ))s"
if [ ${#failed[@]} -eq 0 ]; then
  rm -rf "$VX_TEST_TMP"
else
  echo "run-tests: the tests' temporary directories (daemon logs, state) are kept in $VX_TEST_TMP"
fi
if [ ${#failed[@]} -gt 0 ]; then
  # Repeated at the end, where a reader of only the output's tail finds it.
  for name in "${failed[@]}"; do
    log=$logdir/${name//\//_}.log
    echo "---- $name: the failing checks and the last 25 lines of $log ----"
    grep -E ':[0-9]+:[EF]:' "$log" | head -n 20 || true
    tail -n 25 "$log"
  done
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
