// allGatherWithGrad: an all-gather that autograd can differentiate, for losses over the global
// batch (e.g. the contrastive pretraining loss, design.md section 4.4).
//
// Forward: returns comm.allGather(local), [W*n, ...] in rank order (W = comm.size()); the result
// requires grad when `local` does. Backward: the gradient of rank r's slice is the SUM over all
// ranks of the gradient each rank computed for that slice (a reduceScatter(kSum) of the incoming
// gradient), so gradients flow back to the rank that owns the rows.
//
// Convention, precisely: let every rank compute the same loss L over the gathered batch (e.g. the
// mean InfoNCE over all W*n samples), exactly as one process would over the whole batch. Then
//   - the loss value equals the single-process loss;
//   - the gradient arriving at `local` on rank r is W * dL/dx for x in rank r's slice;
//   - after GradientReducer averages parameter gradients over the W ranks, every parameter
//     gradient equals the single-process dL/dθ.
// (Equivalently: if rank r computes only its own share L_r with L = sum_r L_r, the gradient
// arriving at `local` is exactly dL/dx and parameter gradients must be summed, not averaged.)
//
// Collective: every rank must call it (and run backward through it) in the same order; `local`
// has the same shape on every rank. `comm` must outlive the backward pass.
#pragma once

#include <ATen/core/Tensor.h>

#include "comm/communicator.h"

namespace agreid::comm {

at::Tensor allGatherWithGrad(Communicator& comm, const at::Tensor& local,
                             const AllGatherOptions& opts = {});

}  // namespace agreid::comm
