# Sourced by the two-sided benchmark scripts (ddp_bench.sh, pretrain_bench.sh, extract_bench.sh).
#
# twin_args [BUILD_DIR] [ROUNDS] [-- ARGS...] sets build (default build/), rounds (default 2),
# args (the rest, for both sides) and ranks ($AGREID_BENCH_RANKS, default 2).
twin_args() {
  build="${1:-build}"
  rounds="${2:-2}"
  shift $(($# < 2 ? $# : 2))
  [[ "${1:-}" == "--" ]] && shift
  args=("$@")
  ranks="${AGREID_BENCH_RANKS:-2}"
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
}

# twin_rounds ROUNDS OUR_KEY PEER_KEY UNIT PEER_NAME runs the caller's functions `ours` and
# `theirs` (each given the round number) alternately for ROUNDS rounds, echoes their output, takes
# the value after OUR_KEY / PEER_KEY (first field of the line) from each, and prints the table
# "| round | agreid UNIT | PEER_NAME UNIT | ratio agreid / peer |".
twin_rounds() {
  local rounds="$1" our_key="$2" peer_key="$3" unit="$4" peer_name="$5" r a t
  local ours_v=() theirs_v=()
  for ((r = 1; r <= rounds; ++r)); do
    a="$(ours "$r")"
    echo "$a"
    t="$(theirs "$r")"
    echo "$t"
    ours_v+=("$(echo "$a" | awk -v k="$our_key" '$1 == k {print $2}')")
    theirs_v+=("$(echo "$t" | awk -v k="$peer_key" '$1 == k {print $2}')")
  done
  echo
  echo "| round | agreid $unit | $peer_name $unit | ratio agreid / peer |"
  echo "|---:|---:|---:|---:|"
  for ((r = 0; r < rounds; ++r)); do
    awk -v r=$((r + 1)) -v o="${ours_v[r]}" -v t="${theirs_v[r]}" \
      'BEGIN { printf "| %d | %.1f | %.1f | %.2f |\n", r, o, t, o / t }'
  done
}
