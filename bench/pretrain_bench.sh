#!/usr/bin/env bash
# CLIP pretraining-step benchmark: agreid (bench/pretrain_step_bench.cc: the step of
# trainer/stages/pretrain.cc on MpiCommunicator + GradientReducer) against PyTorch
# DistributedDataParallel with gloo (bench/pretrain_reference.py), the same tiny CLIP
# (configs/demo.toml), initial weights, global batch, ranks and threads per rank, alternating for
# ROUNDS rounds in one run. Every agreid round saves its initial weights and batch (the same each
# time); the peer loads them, so both print the same first loss.
# usage: bench/pretrain_bench.sh [BUILD_DIR] [ROUNDS] [-- --steps N --warmup N --threads N ...]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/twin_rounds.sh
twin_args "$@"
tmp="$(mktemp -d /tmp/agreid_pretrain_bench.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
ours() {
  mpiexec -n "$ranks" --oversubscribe "$build/bench/pretrain_step_bench" --save "$tmp/init.pt" \
    "${args[@]}"
}
theirs() { /usr/bin/python3 bench/pretrain_reference.py --ranks "$ranks" --load "$tmp/init.pt" "${args[@]}"; }
twin_rounds "$rounds" agreid_pretrain_step_ms pytorch_ddp_pretrain_step_ms ms/step "PyTorch DDP (gloo)"
