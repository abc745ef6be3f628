#!/usr/bin/env bash
# Stage-1 scaling sweep (docs/benchmarks.md, "Stage-1 scaling"): bench/stage1_scaling_bench at
# several images N, identities K and ranks W, one process group per configuration.
#
# usage: bench/stage1_scaling.sh [--quick] [--build DIR] [--bench EXE]
#   default: N = 1e4, 1e5, 1e6 (K = N/20) and N = 2e6 (K = 1e4) on W = 1, 2, 4, then K = 1e3,
#            2e4, 1e5 at N = 1e5 on W = 2 (~4 GB at most, over all ranks; a few minutes).
#   --quick: N = 1e4 and 1e5 on W = 1 and 2 (under a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build bench="" quick=0
while (($#)); do
  case "$1" in
    --quick) quick=1 ;;
    --build) build="$2"; shift ;;
    --bench) bench="$2"; shift ;;
    *) echo "bench/stage1_scaling.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
bench="${bench:-$build/bench/stage1_scaling_bench}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
one() {  # W N K
  mpiexec -n "$1" --oversubscribe "$bench" --n "$2" --ids "$3" --steps 20 --dir "$dir/$1-$2-$3" |
    grep '^W='
}
if ((quick)); then
  for w in 1 2; do for n in 10000 100000; do one "$w" "$n" $((n / 20)); done; done
  exit 0
fi
for w in 1 2 4; do
  for n in 10000 100000 1000000; do one "$w" "$n" $((n / 20)); done
  one "$w" 2000000 10000
done
for k in 1000 20000 100000; do one 2 100000 "$k"; done
