#!/usr/bin/env bash
# Runs one libFuzzer target: run_fuzz.sh BINARY RUNS FINDINGS_DIR SEED_DIR...
# The working corpus is a fresh temporary folder (seed folders are only read); a crashing input is
# kept in FINDINGS_DIR, and the exit status is libFuzzer's (non-zero on a finding).
set -uo pipefail
bin=$1 runs=$2 findings=$3
shift 3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$findings"
name=$(basename "$bin")
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
"$bin" -runs="$runs" -max_len=65536 -rss_limit_mb=4096 -timeout=30 \
  -artifact_prefix="$findings/$name-" -print_final_stats=1 "$work/corpus" "$@" >"$work/log" 2>&1
rc=$?
# Progress lines are noise in a test log; the summary, stats and any report are kept.
grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' "$work/log"
exit "$rc"
