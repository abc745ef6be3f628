#!/usr/bin/env bash
# Feature-extraction benchmark: `agreid extract` (HDF5 read, JPEG decode, test transforms and the
# CLIP image tower, batched; its own images/s over the pass) against PyTorch inference
# (bench/extract_reference.py: h5py + PIL + torchvision transforms in a DataLoader, the same tower
# in eval mode under no_grad) on the same synthetic dataset (`agreid synth`, configs/demo.toml with
# synth.identities = IDENTITIES, 16 images each) and the same randomly initialised tiny CLIP
# (pretrain_step_bench --save-clip), alternating for ROUNDS rounds. Both sides: batch 64, THREADS
# intra-op threads, WORKERS decode workers (threads for agreid, processes for the DataLoader).
# The first peer round also prints the largest difference between the two sides' features.
# usage: bench/extract_bench.sh [BUILD_DIR] [ROUNDS] [IDENTITIES] [THREADS] [WORKERS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/twin_rounds.sh
build="${1:-build}"
rounds="${2:-2}"
identities="${3:-400}"
threads="${4:-1}"
workers="${5:-1}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp="$(mktemp -d /tmp/agreid_extract_bench.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
"$build/launch/agreid" synth --out "$tmp" --config configs/demo.toml \
  --set synth.identities="$identities" --set synth.pretrain_images=100 > /dev/null
mpiexec -n 1 "$build/bench/pretrain_step_bench" --steps 0 --save "$tmp/init.pt" \
  --save-clip "$tmp/clip.pt"
ours() {
  "$build/launch/agreid" extract --weights "$tmp/clip.pt" --data "$tmp/reid.h5" \
    --out "$tmp/features.h5" --batch-size 64 --config configs/demo.toml \
    --set run.threads="$threads" --set data.num_workers="$workers" 2>&1 |
    awk '/extract all: done/ { print; gsub(/[()]/, ""); print "agreid_extract_images_per_s", $(NF - 1) }'
}
theirs() {
  local compare=()
  (($1 == 1)) && compare=(--compare "$tmp/features.h5")
  /usr/bin/python3 bench/extract_reference.py "$tmp/reid.h5" --load "$tmp/init.pt" --batch 64 \
    --threads "$threads" --workers "$workers" "${compare[@]}"
}
twin_rounds "$rounds" agreid_extract_images_per_s pytorch_extract_images_per_s images/s \
  "PyTorch inference"
