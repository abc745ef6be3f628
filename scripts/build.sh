#!/usr/bin/env bash
# Configures and builds agreid (Release) into build/. Usage: scripts/build.sh [extra cmake args]
# AGREID_TARGETS="agreid ..." builds only those targets (the quickstart needs only agreid).
# AGREID_BUILD_DIR=DIR builds elsewhere (scripts/test.sh's sanitizer build uses build-asan).
# Extra cmake arguments are applied on every call (cmake re-runs when they are given).
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
jobs="${AGREID_JOBS:-$(nproc)}"
dir="${AGREID_BUILD_DIR:-build}"
if [[ ! -f "$dir/build.ninja" || $# -gt 0 ]]; then
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
fi
cmake --build "$dir" -j "$jobs" ${AGREID_TARGETS:+--target $AGREID_TARGETS}
