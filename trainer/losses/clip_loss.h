// Symmetric CLIP InfoNCE (pretraining, design.md §4.4) with a learnable temperature, over the
// global batch of all ranks.
//
// Distributed form (OpenCLIP's local_loss + gather_with_grad): every rank all-gathers the
// L2-normalised image and text features with gradient (comm::allGatherWithGrad: the backward
// reduce-scatters the gradient of the gathered rows back to their owning rank) and scores its own
// rows against all columns. Rank r returns the mean loss of its rows; the mean over ranks equals
// the loss of the global batch, and gradients averaged over ranks (GradientReducer) equal those of
// one process holding the whole batch. Every rank must call it with the same local batch size, and
// must run backward on the result (the backward communicates). Not thread-safe with respect to
// `comm`.
#pragma once

#include <ATen/core/Tensor.h>

namespace agreid::comm {
class Communicator;
}

namespace agreid::trainer {

// Largest logit scale (OpenCLIP clamps exp(log_scale) at 100).
inline constexpr double kMaxLogitScale = 100.0;

// One process: image [B, D], text [B, D] (pair i matches pair i), log_scale a scalar or [1]
// tensor holding log(1/temperature). Features are L2-normalised here; scale =
// min(exp(log_scale), 100); loss = (CE(scale I T^T, P) + CE(scale T I^T, P)) / 2, where the
// target P is the identity (pair i matches only pair i) when `keys` is undefined. With `keys`
// (int64 [B], e.g. one id per distinct caption) every pair j whose key equals key i is a
// positive of row i, with equal weight: P_ij = [k_i == k_j] / #{j : k_j == k_i} (the
// multi-positive form, for batches in which several images share one caption).
at::Tensor clipContrastiveLoss(const at::Tensor& image, const at::Tensor& text,
                               const at::Tensor& log_scale, const at::Tensor& keys = {});

// All ranks: image, text [b, D] (and keys [b]) local rows; the global batch is the
// concatenation in rank order.
at::Tensor clipContrastiveLoss(const at::Tensor& image, const at::Tensor& text,
                               const at::Tensor& log_scale, comm::Communicator& comm,
                               const at::Tensor& keys = {});

}  // namespace agreid::trainer
