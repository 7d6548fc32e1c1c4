#!/usr/bin/env bash
# Everything CI checks, in one command (`make check`): packages, a -Werror build, every test
# against real parts (one Kafka broker for the whole run), every shell example of README.md run
# against a `make run`-style suite, the same tests under ASan+UBSan with
# LeakSanitizer, short fuzz runs of every decoder of outside input, the deployment files
# (docker/, k8s/, config/) against the daemons, the compose file run for real in Docker
# (scripts/compose-test.sh: its engine's build cache persists in /var/cache/vexfs-docker, so
# a run after the first rebuilds only what changed), and lint.
#   VX_FUZZ_SECONDS   seconds per fuzz target (default 12: 19 targets, two at a time)
#   VX_SKIP_LINT=1    leave out cppcheck/clang-tidy (local iterations only)
#   VX_SKIP_COMPOSE=1 leave out the compose test (local iterations only)
#   VX_SOAK_SEED      the short chaos soak's fault schedule (default 7)
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
step() { printf '\n==== %s (%ss)\n' "$*" "$(( $(date +%s) - t0 ))"; }

step "packages"
scripts/install-deps.sh

step "build (gcc -Werror)"
make all

step "build (ASan+UBSan)"
make SANITIZE=1 all

step "Kafka broker"
VEXFS_KAFKA_BOOTSTRAP=$(scripts/kafka.sh start)
export VEXFS_KAFKA_BOOTSTRAP
trap 'scripts/kafka.sh stop >/dev/null 2>&1 || true' EXIT

step "deployment files (compose, Kubernetes schemas, Prometheus, cross-check and real starts)"
scripts/validate-deploy.sh

step "tests"
scripts/run-tests.sh build

# One fault schedule (seed VX_SOAK_SEED, default 7) so that every run of CI meets the same faults;
# `make soak` draws a new seed each time to explore others.
step "chaos soak, short form (scripts/soak.sh --short: the suite under load and seeded random faults for 90 s; about 2 minutes)"
scripts/soak.sh build --short --seed "${VX_SOAK_SEED:-7}"

step "README examples against a demo suite on ports of its own (tests/readme/run_examples.py)"
tests/readme/run_examples.py build

step "tests under ASan+UBSan+LSan"
VX_SANITIZE=1 scripts/run-tests.sh build/san

step "kernel module under qemu"
scripts/kmod-test.sh

if [ "${VX_SKIP_COMPOSE:-0}" != 1 ]; then
  step "compose file in Docker (scripts/compose-test.sh)"
  # One throughput run each for the containers and the processes: the step checks that events
  # flow at every rate; the medians of 3 (compose-test.sh's default) are for its figures and
  # would add about 150 s to the run.
  VX_COMPOSE_BENCH_RUNS=${VX_COMPOSE_BENCH_RUNS:-1} scripts/compose-test.sh
fi

# Lint runs beside the fuzz step: each fuzz target runs for a fixed time whatever the load, so
# sharing the cores costs the fuzzers some executions and saves the run about a minute and a
# half. Lint's findings print once both are done.
lint_log=$(mktemp /tmp/vexfs-lint.XXXXXX)
lint_pid=
if [ "${VX_SKIP_LINT:-0}" != 1 ]; then
  step "lint (in the background, beside the fuzz step; its output follows the fuzz step's)"
  scripts/lint.sh build >"$lint_log" 2>&1 &
  lint_pid=$!
fi

step "fuzz"
if ! scripts/fuzz.sh "${VX_FUZZ_SECONDS:-12}"; then
  [ -z "$lint_pid" ] || kill "$lint_pid" 2>/dev/null || true
  exit 1
fi

if [ -n "$lint_pid" ]; then
  step "lint: waiting for it"
  lint_rc=0
  wait "$lint_pid" || lint_rc=$?
  cat "$lint_log"
  rm -f "$lint_log"
  [ "$lint_rc" = 0 ] || { echo "check: lint failed (exit $lint_rc)" >&2; exit 1; }
fi

step "all checks passed"
