#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole CTest suite (unit, mpi, e2e, slurm; gpu
# tests skip with a reason where no GPU exists). Extra arguments go to ctest, e.g. -L unit.
set -euo pipefail
cd "$(dirname "$0")/.."
AGREID_WITH_SLURM=1 scripts/install-deps.sh
scripts/build.sh
cd build
ctest --output-on-failure --timeout 1200 -j "${AGREID_TEST_JOBS:-2}" "$@"
