// Re-ID losses of CLIP-ReID stage 2 (method.md §1.4): label-smoothed cross-entropy, batch-hard
// triplet and the image-to-text cross-entropy against the text features of all identities.
//
// Pure functions of their inputs: no state, thread-safe, no communication. Every loss is a
// differentiable scalar averaged over the rows of the (local) batch.
#pragma once

#include <ATen/core/Tensor.h>

namespace agreid::trainer {

// CE with label smoothing: q = (1 - epsilon) onehot(y) + epsilon / N, loss = mean_i sum_c -q log p.
// logits [B, N] float, labels [B] int64 in [0, N). epsilon = 0 gives plain cross-entropy.
at::Tensor crossEntropyLabelSmooth(const at::Tensor& logits, const at::Tensor& labels,
                                   double epsilon);

struct TripletOptions {
  double margin = 0.3;
};

// Batch-hard triplet loss: Euclidean distances d = sqrt(clamp(|x|^2 + |y|^2 - 2 x.y, 1e-12)) (no
// feature normalisation); per anchor the hardest positive (max d over same label, the anchor
// included) and hardest negative (min d over other labels); loss = mean max(0, d_ap - d_an +
// margin) (MarginRankingLoss). features [B, D], labels [B]. Every anchor needs a negative in the
// batch (P >= 2 identities; stage 2 refuses a smaller P): not checked here, since checking the
// labels' values would make each step wait for the device.
at::Tensor batchHardTripletLoss(const at::Tensor& features, const at::Tensor& labels,
                                const TripletOptions& opts = {});

// Image-to-text CE: logits = image_features . text_features^T ([B, N], unnormalised), then
// crossEntropyLabelSmooth. image_features [B, D], text_features [N, D] (all identities).
at::Tensor imageToTextCrossEntropy(const at::Tensor& image_features,
                                   const at::Tensor& text_features, const at::Tensor& labels,
                                   double epsilon);

}  // namespace agreid::trainer
