#!/usr/bin/env bash
# Builds an earlier commit of the project, so a benchmark can measure today's code beside the
# code it improves on, in the same run and on the same machine.
#   scripts/bench-baseline.sh [COMMIT]   (default: the commit named in bench/BASELINE)
# Prints the build folder of that commit (its bin/ and bench/ hold the programs) on stdout;
# progress goes to stderr. The tree is exported with `git archive` into build/baseline/<sha>/
# and built once; later calls reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-$(sed -n 's/^\([0-9a-f]\{7,40\}\).*/\1/p' bench/BASELINE | head -1)}
[ -n "$rev" ] || { echo "bench-baseline: no commit given and none in bench/BASELINE" >&2; exit 2; }
sha=$(git rev-parse --verify "$rev^{commit}") || {
  echo "bench-baseline: $rev is not a commit of this repository (a shallow clone?)" >&2; exit 2; }
root=$PWD/build/baseline/$sha
if [ ! -f "$root/.built" ]; then
  echo "bench-baseline: building ${sha:0:12} into $root" >&2
  rm -rf "$root"
  mkdir -p "$root/src"
  git archive "$sha" | tar -x -C "$root/src"
  make -C "$root/src" all >&2
  touch "$root/.built"
fi
echo "$root/src/build"
