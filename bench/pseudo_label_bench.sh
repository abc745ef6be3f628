#!/usr/bin/env bash
# Pseudo-label stage benchmark: on the demo world (configs/demo.toml, 2 MPI ranks), each method's
# stage 1 into an empty cache folder (a full run: feature caching, then learning the tokens and,
# for AG-ReID, the attribute encoder), then the same command again (a cache hit). Prints the
# feature-caching rate, the stage-1 time and the wall time of each command.
# Needs the quickstart's world and pretrained CLIP (runs/demo/world, runs/demo/clip.pt).
# usage: bench/pseudo_label_bench.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
vocab="${AGREID_CLIP_VOCAB:-../shared/clip/bpe_simple_vocab_16e6.txt.gz}"
for f in runs/demo/world/reid.h5 runs/demo/clip.pt "$vocab"; do
  [[ -f "$f" ]] || { echo "pseudo_label_bench: $f missing (run scripts/quickstart.sh)" >&2; exit 2; }
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rows=()
for method in clip-reid ag-reid; do
  for attempt in full hit; do
    start=$(date +%s.%N)
    log="$(mpiexec -n 2 --oversubscribe "$build/launch/agreid" pseudo-label --config configs/demo.toml \
      --set "model.vocab=$vocab" --set "stage2.method=$method" --set "stage1.cache_dir=$work/cache" \
      --set "run.out_dir=$work/$method-$attempt" 2>&1)"
    wall=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
    echo "$log" | grep -E "cache (miss|hit|written)|feature cache" >&2
    rate=$(echo "$log" | sed -n 's/.*stage 1 feature cache: [0-9]* images, \([0-9.]*\) images\/s.*/\1/p')
    stage=$(echo "$log" | sed -n 's/.*pseudo-label cache \(written\|hit\): .*[ (]\([0-9.]*\) s)$/\2/p')
    rows+=("| $method | $attempt | ${rate:--} | ${stage:--} | $(printf '%.1f' "$wall") |")
  done
done
echo
echo "| method | run | feature caching (images/s, 2 ranks) | stage 1 (s) | command wall time (s) |"
echo "|---|---|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
