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
// min(exp(log_scale), 100); loss = (CE(scale I T^T, i) + CE(scale T I^T, i)) / 2.
at::Tensor clipContrastiveLoss(const at::Tensor& image, const at::Tensor& text,
                               const at::Tensor& log_scale);

// All ranks: image, text [b, D] local rows; the global batch is the concatenation in rank order.
at::Tensor clipContrastiveLoss(const at::Tensor& image, const at::Tensor& text,
                               const at::Tensor& log_scale, comm::Communicator& comm);

}  // namespace agreid::trainer
