#!/usr/bin/env bash
# Configures and builds agreid (Release) into build/. Usage: scripts/build.sh [extra cmake args]
# AGREID_TARGETS="agreid ..." builds only those targets (the quickstart needs only agreid).
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
jobs="${AGREID_JOBS:-$(nproc)}"
if [[ ! -f build/build.ninja ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
fi
cmake --build build -j "$jobs" ${AGREID_TARGETS:+--target $AGREID_TARGETS}
