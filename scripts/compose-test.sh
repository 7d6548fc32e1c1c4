#!/usr/bin/env bash
# docker/docker-compose.yml for real, in `make check`: builds the images from source (no
# registry: the Debian base comes from scripts/docker-base.sh), brings the suite up and breaks
# it (tests/deploy/compose_test.py says how), then leaves the machine as it found it.
#
# The Docker engine: the one DOCKER_HOST (or /var/run/docker.sock) names when it answers;
# otherwise this script starts its own dockerd, under nice, without touching the host's
# firewall (--iptables=false, --ip-forward=false; images are built on the host network,
# containers talk over the compose network's bridge) and without the default bridge
# (--bridge=none). Its data root (images and the build's layer cache) is persistent, outside
# the clone: VX_DOCKER_ROOT (default /var/cache/vexfs-docker)/data, so a later run rebuilds
# only the layers whose inputs changed (the compiled sources, usually); its exec root and
# socket are a fresh folder under /run. One run at a time uses the root (a lock file in it);
# an engine a killed run left behind (its pid file in the root) is stopped first, and
# leftovers of the project are removed before the test. On exit, whatever happened: `down -v`,
# dangling images, stopped containers, unused volumes and networks pruned (the cache and the
# tagged images stay), dockerd stopped by its pid, its mounts unmounted, the compose bridge,
# docker0 and Docker's iptables chains removed if they appeared, the FORWARD policy put back,
# the exec root deleted. Other tests use network namespaces afterwards.
#
# Caches in ~/.cache/vexfs: the debootstrap tarball (scripts/docker-base.sh) and the Kafka
# jars (scripts/kafka.sh fetch, copied into docker/kafka/libs/ for the Kafka image).
#   VX_DOCKER_ROOT    the own engine's persistent root (default /var/cache/vexfs-docker)
#   VX_DOCKER_COLD=1  empty the own engine's data root first: a cold build (the debootstrap
#                     tarball and the jars stay cached)
#   VEXFS_KAFKA_BOOTSTRAP  a broker on the host for the processes' throughput figure; without
#                     it scripts/kafka.sh starts one (VEXFS_KAFKA_PORT, VEXFS_KAFKA_DIR)
#   VX_COMPOSE_BENCH_RUNS, VX_COMPOSE_BENCH_SECONDS  throughput runs (3) and seconds per rate (2)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DOCKER=/usr/bin/docker # Debian's CLI: another `docker` earlier in PATH may refuse this engine
COMPOSE=(docker-compose)
PROJECT=${VX_COMPOSE_PROJECT:-vexfsci}
BRIDGE=vexfs0 # the compose network's bridge (docker/docker-compose.yml)
t0=$(date +%s)
step() { printf '\n==== compose-test: %s (%ss)\n' "$*" "$(($(date +%s) - t0))"; }
say() { printf 'compose-test: %s\n' "$*" >&2; }

step "packages and programs"
scripts/install-deps.sh
make -s programs build/bench/bench_suite >/dev/null

own_dockerd=0
kafka_started=0
DROOT=""   # the own engine's persistent root
DEXEC=""   # its exec root and socket, this run's only
WORK=$(mktemp -d /tmp/vexfs-compose.XXXXXX) # secrets and logs of the scenarios
forward_policy=$(iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" {print $3}') || true
had_docker0=0
ip link show docker0 >/dev/null 2>&1 && had_docker0=1

# Stops the own engine whose pid file is $1 (this run's, or one a killed run left), waiting
# up to 30 s before SIGKILL.
stop_engine() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || pid=""
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]; then
    kill -TERM "$pid"
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      say "dockerd $pid did not stop in 30 s: SIGKILL"
      kill -KILL "$pid"
    fi
  fi
  rm -f "$1"
}

# Mounts an engine left under the folder $1 (netns files, overlays of a killed engine),
# deepest first.
unmount_under() {
  [ -n "$1" ] || return 0
  findmnt -rn -o TARGET | { grep -F "$1/" || true; } | sort -r |
    while read -r m; do umount -l "$m"; done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  step "cleanup"
  if [ -n "${DOCKER_HOST:-}" ] && "$DOCKER" info >/dev/null 2>&1; then
    "${COMPOSE[@]}" -p "$PROJECT" -f docker/docker-compose.yml down -v --remove-orphans -t 10 \
      >/dev/null 2>&1
  fi
  if [ "$own_dockerd" = 1 ]; then
    # The persistent cache keeps tagged images and their layers only.
    "$DOCKER" container prune -f >/dev/null 2>&1
    "$DOCKER" image prune -f >/dev/null 2>&1
    "$DOCKER" volume prune -f >/dev/null 2>&1
    "$DOCKER" network prune -f >/dev/null 2>&1
    stop_engine "$DROOT/dockerd.pid"
    unmount_under "$DEXEC"
    unmount_under "$DROOT"
    ip link show "$BRIDGE" >/dev/null 2>&1 && ip link del "$BRIDGE"
    [ "$had_docker0" = 0 ] && ip link show docker0 >/dev/null 2>&1 && ip link del docker0
    for chain in DOCKER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2 DOCKER-USER; do
      iptables -S "$chain" >/dev/null 2>&1 || continue
      iptables -D FORWARD -j "$chain" 2>/dev/null
      iptables -F "$chain" && iptables -X "$chain"
    done
    iptables -t nat -S DOCKER >/dev/null 2>&1 && {
      iptables -t nat -D PREROUTING -m addrtype --dst-type LOCAL -j DOCKER 2>/dev/null
      iptables -t nat -D OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER 2>/dev/null
      iptables -t nat -F DOCKER && iptables -t nat -X DOCKER
    }
    if [ -n "$forward_policy" ]; then
      iptables -P FORWARD "$forward_policy"
    fi
    rm -rf "$DEXEC"
    say "own dockerd stopped; mounts, bridge and exec root removed; the cache in $DROOT/data" \
      "($(du -sh "$DROOT/data" 2>/dev/null | cut -f1)) kept;" \
      "FORWARD policy ${forward_policy:-unchanged}"
  fi
  if [ "$kafka_started" = 1 ]; then
    scripts/kafka.sh stop >/dev/null 2>&1
  fi
  if [ "$rc" != 0 ] && [ -d "$WORK" ]; then # the build and scenario logs, not the secrets
    rm -rf "$WORK/secrets" build/compose-test-logs
    mkdir -p build && cp -r "$WORK" build/compose-test-logs &&
      say "logs kept in build/compose-test-logs"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
child=""
trap cleanup EXIT
# A signal to this script alone (a CI timeout) stops the scenarios too; bash runs the trap at
# once because the long steps are waited for with `wait`, which a trapped signal interrupts.
trap '[ -z "$child" ] || kill -TERM "$child" 2>/dev/null; exit 130' INT TERM

step "Kafka jars (~/.cache/vexfs) for the Kafka image"
scripts/kafka.sh fetch
libs=${VEXFS_CACHE:-$HOME/.cache/vexfs}/kafka-${VEXFS_KAFKA_VERSION:-3.9.1}/libs
if ! cmp -s "$libs/.stamp" docker/kafka/libs/.stamp 2>/dev/null; then
  find docker/kafka/libs -name '*.jar' -delete
  cp -l "$libs"/*.jar docker/kafka/libs/ 2>/dev/null || cp "$libs"/*.jar docker/kafka/libs/
  cp "$libs/.stamp" docker/kafka/libs/.stamp
fi

if [ -z "${VEXFS_KAFKA_BOOTSTRAP:-}" ]; then
  step "Kafka broker on the host (the processes' throughput figure)"
  scripts/kafka.sh status >/dev/null 2>&1 || kafka_started=1
  VEXFS_KAFKA_BOOTSTRAP=$(scripts/kafka.sh start)
  export VEXFS_KAFKA_BOOTSTRAP
fi
# Its client settings (SASL_SSL, the user, password file and CA) for the processes' figure,
# unless the caller gave a broker's settings of its own.
if [ -z "${VEXFS_KAFKA_SECURITY_PROTOCOL:-}" ]; then
  kenv=$(scripts/kafka.sh env)
  eval "$kenv"
fi

step "Docker engine"
if [ -z "${DOCKER_HOST:-}" ] && [ -S /var/run/docker.sock ]; then
  export DOCKER_HOST=unix:///var/run/docker.sock
fi
if [ -n "${DOCKER_HOST:-}" ] && "$DOCKER" info >/dev/null 2>&1; then
  say "using the engine at $DOCKER_HOST"
else
  DROOT=${VX_DOCKER_ROOT:-/var/cache/vexfs-docker}
  mkdir -p "$DROOT"
  exec 9>"$DROOT/lock"
  if ! flock -n 9; then
    say "another run uses the engine root $DROOT: waiting for it (up to 30 min)"
    flock -w 1800 9 || { say "$DROOT is still in use"; exit 1; }
  fi
  # An engine a killed run left behind, and the mounts of its exec root.
  stop_engine "$DROOT/dockerd.pid"
  unmount_under "$(cat "$DROOT/exec-root" 2>/dev/null)"
  unmount_under "$DROOT"
  if [ "${VX_DOCKER_COLD:-0}" = 1 ]; then
    say "VX_DOCKER_COLD=1: emptying $DROOT/data (a cold build)"
    rm -rf "$DROOT/data"
  fi
  DEXEC=$(mktemp -d /run/vexfs-docker.XXXXXX) # short: containerd's socket paths are limited
  echo "$DEXEC" >"$DROOT/exec-root"
  export DOCKER_HOST=unix://$DEXEC/docker.sock
  own_dockerd=1
  nice -n 10 dockerd --data-root "$DROOT/data" --exec-root "$DEXEC" \
    --pidfile "$DROOT/dockerd.pid" -H "$DOCKER_HOST" --iptables=false --ip-forward=false \
    --bridge=none 9>&- >"$WORK/dockerd.log" 2>&1 &
  for _ in $(seq 300); do
    "$DOCKER" info >/dev/null 2>&1 && break
    kill -0 $! 2>/dev/null || { tail -n 20 "$WORK/dockerd.log" >&2; exit 1; }
    sleep 0.1
  done
  "$DOCKER" info >/dev/null || { tail -n 20 "$WORK/dockerd.log" >&2; exit 1; }
  say "started dockerd $("$DOCKER" version -f '{{.Server.Version}}') at $DOCKER_HOST" \
    "(log $WORK/dockerd.log; data root $DROOT/data)"
  # The cache is cold when the suite's build stage is not in it (compose_test.py then also
  # measures a warm rebuild and `up` in the same run).
  if "$DOCKER" image inspect vexfs-build:latest >/dev/null 2>&1; then
    export VX_COMPOSE_CACHE=warm
  else
    export VX_COMPOSE_CACHE=cold
  fi
fi
# Containers, volumes and networks a killed run left in the persistent root (an engine
# restarts containers with a restart policy when it starts).
"${COMPOSE[@]}" -p "$PROJECT" -f docker/docker-compose.yml down -v --remove-orphans -t 5 \
  >/dev/null 2>&1 || true

# The compose file publishes fixed host ports (README "Docker compose"): say which is taken.
busy=""
for port in 5549 5550 8080 8081 8082 8083 8087 8092 8102 9090; do
  if ss -Hltn "sport = :$port" | grep -q .; then busy="$busy $port"; fi
done
if [ -n "$busy" ]; then
  pattern=$(echo "$busy" | sed 's/ /|:/g; s/^|//')
  say "host ports in use, the compose file cannot publish them:$busy"
  ss -Hltnp | grep -E "$pattern" | head -n 5 >&2
  exit 1
fi

step "base image debian:bookworm-slim"
scripts/docker-base.sh

step "compose scenarios (tests/deploy/compose_test.py)"
VX_COMPOSE_WORK=$WORK VX_COMPOSE_PROJECT=$PROJECT VX_BENCH_BIN=$ROOT/build/bench/bench_suite \
  nice -n 10 python3 tests/deploy/compose_test.py 9>&- &
child=$!
wait "$child"
