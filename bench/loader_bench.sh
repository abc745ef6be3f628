#!/usr/bin/env bash
# Data loader benchmark: agreid Loader vs PyTorch DataLoader (PIL + torchvision) vs decode-only
# libjpeg-turbo, on the same 128x64 JPEGs of the synthetic world in a Market-1501 folder.
# usage: bench/loader_bench.sh [BUILD_DIR] (default: build)
# AGREID_BENCH_IDENTITIES (400) and AGREID_BENCH_EPOCHS (3) shrink it (bench/all.sh --quick).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$build/bench/loader_bench" prepare --out "$work" --identities "${AGREID_BENCH_IDENTITIES:-400}"
"$build/launch/agreid" import market1501 --root "$work/market" --out "$work/market.h5"
agreid_out="$("$build/bench/loader_bench" run --dataset "$work/market.h5" --epochs "${AGREID_BENCH_EPOCHS:-3}" --workers 2 --batch 64)"
torch_out="$(/usr/bin/python3 bench/loader_reference.py "$work/market/bounding_box_train" --epochs "${AGREID_BENCH_EPOCHS:-3}" --workers 2 --batch 64)"
echo "$agreid_out"
echo "$torch_out"
get() { echo "$agreid_out"$'\n'"$torch_out" | awk -v k="$1" '$1 == k {print $2}'; }
loader=$(get agreid_loader); torch=$(get pytorch_dataloader); decode=$(get decode_only_2threads)
echo
echo "| pipeline (train split, batch 64, 2 workers) | images/s |"
echo "|---|---|"
echo "| decode only, libjpeg-turbo, 1 thread | $(get decode_only_1threads) |"
echo "| decode only, libjpeg-turbo, 2 threads (ceiling) | $decode |"
echo "| decode + train transforms, 1 thread, no loader (work per image) | $(get decode_transform_1thread) |"
echo "| agreid Loader (decode + train transforms 256x128) | $loader |"
echo "| PyTorch DataLoader (PIL + torchvision, num_workers=2) | $torch |"
awk -v l="$loader" -v t="$torch" -v d="$decode" \
  'BEGIN { printf "\nagreid / PyTorch = %.2fx; agreid / decode-only (2 threads) = %.2f\n", l / t, l / d }'
