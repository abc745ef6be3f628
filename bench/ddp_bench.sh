#!/usr/bin/env bash
# Training-step benchmark: agreid (GradientReducer + MpiCommunicator, bench/ddp_step_bench.cc)
# against PyTorch DistributedDataParallel with gloo (bench/ddp_reference.py), the same small CLIP
# re-ID model, global batch, ranks and threads per rank, alternating for ROUNDS rounds in one run.
# usage: bench/ddp_bench.sh [BUILD_DIR] [ROUNDS] [-- extra options for both sides]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/twin_rounds.sh
twin_args "$@"
ours() { mpiexec -n "$ranks" --oversubscribe "$build/bench/ddp_step_bench" "${args[@]}"; }
theirs() { /usr/bin/python3 bench/ddp_reference.py --ranks "$ranks" "${args[@]}"; }
twin_rounds "$rounds" agreid_step_ms pytorch_ddp_step_ms ms/step "PyTorch DDP (gloo)"
