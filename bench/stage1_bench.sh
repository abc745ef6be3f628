#!/usr/bin/env bash
# Stage-1 step benchmark: agreid (bench/stage1_bench.cc, the code of `agreid pseudo-label`)
# against the same computation in PyTorch with gloo (bench/stage1_reference.py) at
# configs/demo.toml's sizes, W ranks, for each method (AG-ReID: prompt tokens V + E_A; CLIP-ReID:
# identity prompt only), alternating for ROUNDS rounds in one run. The C++ side tokenises the
# template and tells the Python side its length, placeholder positions and EOT.
# usage: bench/stage1_bench.sh [BUILD_DIR] [ROUNDS] [-- extra options for both sides]
# AGREID_BENCH_METHODS (default "ag-reid clip-reid"), AGREID_BENCH_RANKS (default 2); the BPE
# vocabulary: AGREID_CLIP_VOCAB, or clip/ under AGREID_SHARED_DIR (default ../shared).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
rounds="${2:-2}"
shift $(($# < 2 ? $# : 2))
[[ "${1:-}" == "--" ]] && shift
ranks="${AGREID_BENCH_RANKS:-2}"
vocab="${AGREID_CLIP_VOCAB:-${AGREID_SHARED_DIR:-../shared}/clip/bpe_simple_vocab_16e6.txt.gz}"
[[ -f "$vocab" ]] || { echo "stage1_bench: $vocab missing (set AGREID_CLIP_VOCAB)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rows=()
for ((r = 1; r <= rounds; ++r)); do
  for method in ${AGREID_BENCH_METHODS:-ag-reid clip-reid}; do
    a="$(mpiexec -n "$ranks" --oversubscribe "$build/bench/stage1_bench" --vocab "$vocab" \
      --method "$method" "$@")"
    echo "$a"
    read -r length positions eot < <(echo "$a" | awk '$1 == "prompt" { print $3, $5, $7 }')
    t="$(/usr/bin/python3 bench/stage1_reference.py --ranks "$ranks" --method "$method" \
      --length "$length" --positions "$positions" --eot "$eot" "$@" 2>&1 | grep -v '^W[0-9]')"
    echo "$t"
    read -r am amin < <(echo "$a" | awk '$1 == "agreid_stage1_ms" { print $2, $3 }')
    read -r pm pmin < <(echo "$t" | awk '$1 == "pytorch_stage1_ms" { print $2, $3 }')
    ac=$(echo "$a" | awk '$1 == "agreid_cpu_ms" { print $2 }')
    pc=$(echo "$t" | awk '$1 == "pytorch_cpu_ms" { print $2 }')
    rows+=("$(awk -v r="$r" -v m="$method" -v am="$am" -v pm="$pm" -v amin="$amin" \
      -v pmin="$pmin" -v ac="$ac" -v pc="$pc" 'BEGIN {
        printf "| %d | %s | %.1f | %.1f | %.2f | %.1f | %.1f | %.1f | %.1f | %.2f |",
          r, m, am, pm, pm / am, amin, pmin, ac, pc, pc / ac }')")
  done
done
echo
echo "| round | method | agreid ms/step | PyTorch ms/step | ratio peer / agreid |" \
  "agreid min | PyTorch min | agreid CPU ms/step | PyTorch CPU ms/step | CPU ratio |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
