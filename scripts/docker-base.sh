#!/usr/bin/env bash
# Makes the base image of every Dockerfile under docker/ (debian:bookworm-slim) in the Docker
# engine DOCKER_HOST names, for machines that reach Debian's archive but no container
# registry: when the engine does not have it, a minimal Debian 12 made with debootstrap
# (minbase, the apt sources of bookworm, bookworm-updates and bookworm-security, and the
# documentation exclusions of Debian's slim images) is imported under that name. The root
# file system is kept as a tarball in ~/.cache/vexfs, so only the first run pays for
# debootstrap (about a minute and a half); delete the tarball to make a fresh one.
#   scripts/docker-base.sh [IMAGE]     (default debian:bookworm-slim)
# Environment: VEXFS_CACHE (~/.cache/vexfs), VX_DEBIAN_MIRROR (the first Debian mirror of the
# machine's apt sources, else http://deb.debian.org/debian), VX_DOCKER (docker CLI to use).
# Needs root for debootstrap (sudo otherwise) and the debootstrap package
# (scripts/install-deps.sh installs it).
set -euo pipefail
IMAGE=${1:-debian:bookworm-slim}
CACHE=${VEXFS_CACHE:-$HOME/.cache/vexfs}
TARBALL=$CACHE/debian-bookworm-minbase.tar
DOCKER=${VX_DOCKER:-/usr/bin/docker}
say() { printf 'docker-base: %s\n' "$*" >&2; }

if "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
  exit 0
fi

# The machine's own Debian mirror (deb822 .sources or one-line sources.list).
mirror() {
  if [ -n "${VX_DEBIAN_MIRROR:-}" ]; then echo "$VX_DEBIAN_MIRROR"; return; fi
  local m
  m=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
      grep -oE 'https?://[^ ]*/debian/?( |$)' | grep -v security | head -n 1 | tr -d ' ') || true
  echo "${m:-http://deb.debian.org/debian}"
}

if [ ! -s "$TARBALL" ]; then
  SUDO=()
  [ "$(id -u)" = 0 ] || SUDO=(sudo)
  if ! command -v debootstrap >/dev/null; then
    say "debootstrap is missing (scripts/install-deps.sh)"
    exit 1
  fi
  mkdir -p "$CACHE"
  root=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  trap '"${SUDO[@]}" rm -rf "$root" "$TARBALL.tmp"' EXIT
  m=$(mirror)
  say "debootstrap --variant=minbase bookworm from $m (once; kept in $TARBALL)"
  t0=$SECONDS
  "${SUDO[@]}" debootstrap --variant=minbase bookworm "$root" "$m" \
    >"$CACHE/debootstrap.log" 2>&1 || {
    tail -n 20 "$CACHE/debootstrap.log" >&2
    exit 1
  }
  "${SUDO[@]}" tee "$root/etc/apt/sources.list" >/dev/null <<EOF
deb $m bookworm main
deb $m bookworm-updates main
deb ${m%/debian*}/debian-security bookworm-security main
EOF
  # As in Debian's slim images: no manual pages, documentation or translations.
  "${SUDO[@]}" tee "$root/etc/dpkg/dpkg.cfg.d/docker-slim" >/dev/null <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
  "${SUDO[@]}" sh -c "rm -rf '$root'/var/cache/apt/archives/*.deb '$root'/var/lib/apt/lists/* \
    '$root'/usr/share/doc/*/[!c]* '$root'/usr/share/man/* '$root'/usr/share/locale/*"
  "${SUDO[@]}" tar --numeric-owner -C "$root" -cf "$TARBALL.tmp" .
  "${SUDO[@]}" chown "$(id -u):$(id -g)" "$TARBALL.tmp"
  mv "$TARBALL.tmp" "$TARBALL"
  say "root file system made in $((SECONDS - t0)) s"
fi
say "importing $TARBALL as $IMAGE"
"$DOCKER" import --change 'CMD ["bash"]' "$TARBALL" "$IMAGE" >/dev/null
