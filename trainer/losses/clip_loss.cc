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

}  // namespace

at::Tensor clipContrastiveLoss(const at::Tensor& image, const at::Tensor& text,
                               const at::Tensor& log_scale) {
  checkPairs(image, text);
  const at::Tensor i =
      torch::nn::functional::normalize(image, torch::nn::functional::NormalizeFuncOptions().dim(1));
  const at::Tensor t =
      torch::nn::functional::normalize(text, torch::nn::functional::NormalizeFuncOptions().dim(1));
  const at::Tensor scale = scaleOf(log_scale);
  const at::Tensor targets = torch::arange(image.size(0), image.options().dtype(torch::kLong));
  const at::Tensor logits = scale * i.matmul(t.t());
  return (torch::cross_entropy_loss(logits, targets) +
          torch::cross_entropy_loss(logits.t(), targets)) /
         2.0;
}

at::Tensor clipContrastiveLoss(const at::Tensor& image, const at::Tensor& text,
                               const at::Tensor& log_scale, comm::Communicator& comm) {
  checkPairs(image, text);
  const at::Tensor i =
      torch::nn::functional::normalize(image, torch::nn::functional::NormalizeFuncOptions().dim(1));
  const at::Tensor t =
      torch::nn::functional::normalize(text, torch::nn::functional::NormalizeFuncOptions().dim(1));
  const at::Tensor all_i = comm::allGatherWithGrad(comm, i);
  const at::Tensor all_t = comm::allGatherWithGrad(comm, t);
  const int64_t b = image.size(0);
  const at::Tensor scale = scaleOf(log_scale);
  const at::Tensor targets =
      torch::arange(b, image.options().dtype(torch::kLong)) + b * comm.rank();
  return (torch::cross_entropy_loss(scale * i.matmul(all_t.t()), targets) +
          torch::cross_entropy_loss(scale * t.matmul(all_i.t()), targets)) /
         2.0;
}

}  // namespace agreid::trainer
