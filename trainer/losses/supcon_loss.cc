#include "trainer/losses/supcon_loss.h"

#include <torch/torch.h>

#include "base/check.h"

namespace agreid::trainer {

at::Tensor supConLoss(const at::Tensor& anchors, const at::Tensor& contrast,
                      const at::Tensor& anchor_labels, const at::Tensor& contrast_labels,
                      const SupConOptions& opts) {
  AGREID_CHECK(anchors.dim() == 2 && contrast.dim() == 2 && anchors.size(1) == contrast.size(1),
               "anchors [B, D] and contrast [M, D] expected, got ", anchors.sizes(), " and ",
               contrast.sizes());
  AGREID_CHECK(
      anchor_labels.size(0) == anchors.size(0) && contrast_labels.size(0) == contrast.size(0),
      "one label per row expected");
  const at::Tensor mask =
      anchor_labels.unsqueeze(1).eq(contrast_labels.unsqueeze(0)).to(anchors.scalar_type());
  const at::Tensor positives = mask.sum(1);
  at::Tensor logits = anchors.matmul(contrast.t()) / opts.temperature;
  logits = logits - std::get<0>(logits.max(1, /*keepdim=*/true)).detach();
  const at::Tensor log_prob = logits - logits.exp().sum(1, /*keepdim=*/true).log();
  return -((mask * log_prob).sum(1) / positives).mean();
}

}  // namespace agreid::trainer
