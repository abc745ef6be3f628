#!/usr/bin/env bash
# Training-step benchmark: agreid (GradientReducer + MpiCommunicator, bench/ddp_step_bench.cc)
# against PyTorch DistributedDataParallel with gloo (bench/ddp_reference.py), the same small CLIP
# re-ID model, global batch, ranks and threads per rank, alternating for ROUNDS rounds in one run.
# usage: bench/ddp_bench.sh [BUILD_DIR] [ROUNDS] [-- extra options for both sides]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
rounds="${2:-2}"
shift $(($# < 2 ? $# : 2))
[[ "${1:-}" == "--" ]] && shift
ranks="${AGREID_BENCH_RANKS:-2}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ours=() theirs=()
for ((r = 1; r <= rounds; ++r)); do
  a="$(mpiexec -n "$ranks" --oversubscribe "$build/bench/ddp_step_bench" "$@")"
  echo "$a"
  t="$(/usr/bin/python3 bench/ddp_reference.py --ranks "$ranks" "$@")"
  echo "$t"
  ours+=("$(echo "$a" | awk '$1 == "agreid_step_ms" {print $2}')")
  theirs+=("$(echo "$t" | awk '$1 == "pytorch_ddp_step_ms" {print $2}')")
done
echo
echo "| round | agreid ms/step | PyTorch DDP (gloo) ms/step | ratio agreid / DDP |"
echo "|---:|---:|---:|---:|"
for ((r = 0; r < rounds; ++r)); do
  awk -v r=$((r + 1)) -v o="${ours[r]}" -v t="${theirs[r]}" \
    'BEGIN { printf "| %d | %.1f | %.1f | %.2f |\n", r, o, t, o / t }'
done
