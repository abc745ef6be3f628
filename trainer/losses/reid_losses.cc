#include "trainer/losses/reid_losses.h"

#include <torch/torch.h>

#include "base/check.h"

namespace agreid::trainer {

at::Tensor crossEntropyLabelSmooth(const at::Tensor& logits, const at::Tensor& labels,
                                   double epsilon) {
  AGREID_CHECK(logits.dim() == 2, "logits must be [B, N], got ", logits.sizes());
  AGREID_CHECK(labels.dim() == 1 && labels.size(0) == logits.size(0), "labels must be [B]");
  const int64_t num_classes = logits.size(1);
  const at::Tensor log_probs = torch::log_softmax(logits, 1);
  at::Tensor targets =
      torch::zeros_like(log_probs).scatter_(1, labels.unsqueeze(1).to(torch::kLong), 1.0);
  targets = targets * (1.0 - epsilon) + epsilon / static_cast<double>(num_classes);
  return (-targets * log_probs).mean(0).sum();
}

at::Tensor batchHardTripletLoss(const at::Tensor& features, const at::Tensor& labels,
                                const TripletOptions& opts) {
  AGREID_CHECK(features.dim() == 2, "features must be [B, D], got ", features.sizes());
  AGREID_CHECK(labels.dim() == 1 && labels.size(0) == features.size(0), "labels must be [B]");
  const at::Tensor sq = features.pow(2).sum(1, /*keepdim=*/true);
  at::Tensor dist = sq + sq.t() - 2.0 * features.matmul(features.t());
  dist = dist.clamp_min(1e-12).sqrt();
  const at::Tensor same = labels.unsqueeze(1).eq(labels.unsqueeze(0));
  const double inf = std::numeric_limits<double>::infinity();
  const at::Tensor dist_ap = std::get<0>(dist.masked_fill(same.logical_not(), -inf).max(1));
  const at::Tensor dist_an = std::get<0>(dist.masked_fill(same, inf).min(1));
  return torch::clamp_min(dist_ap - dist_an + opts.margin, 0.0).mean();
}

at::Tensor imageToTextCrossEntropy(const at::Tensor& image_features,
                                   const at::Tensor& text_features, const at::Tensor& labels,
                                   double epsilon) {
  AGREID_CHECK(image_features.dim() == 2 && text_features.dim() == 2 &&
                   image_features.size(1) == text_features.size(1),
               "image [B, D] and text [N, D] features expected, got ", image_features.sizes(),
               " and ", text_features.sizes());
  return crossEntropyLabelSmooth(image_features.matmul(text_features.t()), labels, epsilon);
}

}  // namespace agreid::trainer
