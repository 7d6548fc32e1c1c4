#!/usr/bin/env bash
# Installs every Debian package the project builds, tests and benchmarks with.
# Idempotent: silent and fast when everything is already present.
#   --build   only what `make` needs to build the programs (the container image's builder)
set -euo pipefail

# The build's packages: one list, shared with docker/Dockerfile's dependency stage.
mapfile -t BUILD_PACKAGES < <(grep -v -e '^#' -e '^[[:space:]]*$' \
  "$(dirname "$0")/build-packages.txt")
# Tests, lint, benchmarks and deployment checks (docker-compose validates docker/, promtool
# the Prometheus files, python3-venv holds the Kubernetes schema validator, etcd-server is the
# coordinator benchmark's peer, iproute2 makes the network namespaces of partition tests;
# Debian's Docker engine, iptables and debootstrap run the compose file for real in
# scripts/compose-test.sh).
TOOL_PACKAGES=(
  clang libclang-rt-14-dev clang-tidy cppcheck
  prometheus kcat default-jdk-headless maven curl jq procps iproute2 fuse3
  docker-compose docker.io debootstrap iptables python3-venv python3 etcd-server
)
PACKAGES=("${BUILD_PACKAGES[@]}")
if [ "${1:-}" != --build ]; then
  PACKAGES+=("${TOOL_PACKAGES[@]}")
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Another apt run (unattended upgrades, a parallel job) may hold the lists lock: retry.
for attempt in 1 2 3 4 5 6; do
  if $SUDO apt-get -o DPkg::Lock::Timeout=120 update -qq &&
     $SUDO apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    exit 0
  fi
  echo "install-deps: apt-get failed (attempt $attempt); retrying in 20 s" >&2
  sleep 20
done
echo "install-deps: could not install: ${missing[*]}" >&2
exit 1
