#include "trainer/losses/clip_loss.h"

#include <torch/torch.h>

#include "base/check.h"
#include "comm/all_gather_autograd.h"
#include "comm/communicator.h"

namespace agreid::trainer {
namespace {

at::Tensor scaleOf(const at::Tensor& log_scale) {
  AGREID_CHECK(log_scale.numel() == 1, "log_scale must hold one value");
  return log_scale.reshape({}).exp().clamp_max(kMaxLogitScale);
}

void checkPairs(const at::Tensor& image, const at::Tensor& text) {
  AGREID_CHECK(image.dim() == 2 && image.sizes() == text.sizes(),
               "image and text features must be [B, D] of equal shape, got ", image.sizes(),
               " and ", text.sizes());
}

void checkKeys(const at::Tensor& keys, const at::Tensor& image) {
  if (!keys.defined()) return;
  AGREID_CHECK(keys.dim() == 1 && keys.size(0) == image.size(0) && keys.scalar_type() == at::kLong,
               "contrastive keys must be int64 [B] with B = ", image.size(0), ", got ",
               keys.sizes());
}

// Mean over rows of the cross-entropy of `logits` [R, C]: against column `first_row + i` for row
// i when there are no keys, else against the uniform distribution over the columns whose key
// equals the row's.
at::Tensor rowLoss(const at::Tensor& logits, int64_t first_row, const at::Tensor& row_keys,
                   const at::Tensor& col_keys) {
  if (!row_keys.defined()) {
    const at::Tensor targets =
        torch::arange(logits.size(0), logits.options().dtype(torch::kLong)) + first_row;
    return torch::cross_entropy_loss(logits, targets);
  }
  const at::Tensor same =
      row_keys.to(logits.device()).unsqueeze(1).eq(col_keys.to(logits.device()).unsqueeze(0));
  const at::Tensor p = same.to(logits.scalar_type());
  const at::Tensor targets = p / p.sum(1, true);
  return -(targets * torch::log_softmax(logits, 1)).sum(1).mean();
}

}  // namespace

at::Tensor clipContrastiveLoss(const at::Tensor& image, const at::Tensor& text,
                               const at::Tensor& log_scale, const at::Tensor& keys) {
  checkPairs(image, text);
  checkKeys(keys, image);
  const at::Tensor i =
      torch::nn::functional::normalize(image, torch::nn::functional::NormalizeFuncOptions().dim(1));
  const at::Tensor t =
      torch::nn::functional::normalize(text, torch::nn::functional::NormalizeFuncOptions().dim(1));
  const at::Tensor scale = scaleOf(log_scale);
  const at::Tensor logits = scale * i.matmul(t.t());
  return (rowLoss(logits, 0, keys, keys) + rowLoss(logits.t(), 0, keys, keys)) / 2.0;
}

at::Tensor clipContrastiveLoss(const at::Tensor& image, const at::Tensor& text,
                               const at::Tensor& log_scale, comm::Communicator& comm,
                               const at::Tensor& keys) {
  checkPairs(image, text);
  checkKeys(keys, image);
  const at::Tensor i =
      torch::nn::functional::normalize(image, torch::nn::functional::NormalizeFuncOptions().dim(1));
  const at::Tensor t =
      torch::nn::functional::normalize(text, torch::nn::functional::NormalizeFuncOptions().dim(1));
  const at::Tensor all_i = comm::allGatherWithGrad(comm, i);
  const at::Tensor all_t = comm::allGatherWithGrad(comm, t);
  const int64_t b = image.size(0);
  const at::Tensor scale = scaleOf(log_scale);
  const at::Tensor all_keys = keys.defined() ? comm.allGather(keys.contiguous()) : at::Tensor();
  return (rowLoss(scale * i.matmul(all_t.t()), b * comm.rank(), keys, all_keys) +
          rowLoss(scale * t.matmul(all_i.t()), b * comm.rank(), keys, all_keys)) /
         2.0;
}

}  // namespace agreid::trainer
