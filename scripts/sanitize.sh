#!/usr/bin/env bash
# The sanitizer stage of scripts/test.sh (docs/testing.md): clang with AddressSanitizer + UBSan
# and libFuzzer, built in build-asan/.
#
#   scripts/sanitize.sh          build, then run the unit and mpi tests and each fuzz target
#                                briefly from its seed corpus (AGREID_FUZZ_LIMIT, default 15s)
#   scripts/sanitize.sh build    only build (AGREID_TARGETS, default: what the stage runs)
#
# Only the test binaries the stage runs are built (CMake target sanitizer_stage: tests labelled
# unit or mpi, not e2e, slurm or gpu, and the fuzz targets). Leak detection is off for the
# GoogleTest binaries (Open MPI and LibTorch keep allocations until exit by design); the fuzz
# targets run with it on (tests/fuzz/run_fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
AGREID_WITH_CLANG=1 scripts/install-deps.sh >/dev/null
CC=clang CXX=clang++ AGREID_BUILD_DIR=build-asan AGREID_TARGETS="${AGREID_TARGETS:-sanitizer_stage}" \
  scripts/build.sh -DAGREID_SANITIZE=ON -DAGREID_FUZZ=ON -DAGREID_BUILD_BENCH=OFF \
  "-DAGREID_STRICT_SKIPS=${AGREID_STRICT_SKIPS:-0}" "-DAGREID_FUZZ_LIMIT=${AGREID_FUZZ_LIMIT:-15s}"
[[ ${1:-} == build ]] && exit 0
cd build-asan
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
ctest --output-on-failure --timeout 1800 -j "${AGREID_TEST_JOBS:-2}" -L 'unit|mpi' -LE 'e2e|slurm|gpu'
# run_fuzz.sh sets the fuzz targets' own sanitizer options (leak detection on).
unset ASAN_OPTIONS UBSAN_OPTIONS
ctest --output-on-failure -j "${AGREID_TEST_JOBS:-2}" -L fuzz
