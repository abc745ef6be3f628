// The distributed CLIP loss at W thread ranks equals the single-process loss over the global batch:
// the mean of the per-rank losses, and the rank-averaged gradients (what GradientReducer does).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <mutex>

#include "comm/thread_communicator.h"
#include "trainer/losses/clip_loss.h"

namespace agreid::trainer {
namespace {

class ClipLossDistributedTest : public ::testing::TestWithParam<int> {};

TEST_P(ClipLossDistributedTest, EqualsSingleProcess) {
  const int world = GetParam();
  constexpr int64_t kGlobal = 8, kDim = 5;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(11);
  const at::Tensor image = at::randn({kGlobal, kDim}, gen, torch::kDouble);
  const at::Tensor text = at::randn({kGlobal, kDim}, gen, torch::kDouble);
  const double log_scale = std::log(1 / 0.07);

  at::Tensor ri = image.clone().requires_grad_(true), rt = text.clone().requires_grad_(true);
  at::Tensor rs = torch::full({1}, log_scale, torch::kDouble).requires_grad_(true);
  const at::Tensor ref = clipContrastiveLoss(ri, rt, rs);
  ref.backward();

  std::mutex mutex;
  double loss_sum = 0, scale_grad_sum = 0;
  at::Tensor grad_i = torch::zeros_like(image), grad_t = torch::zeros_like(text);
  comm::runRanks(world, [&](comm::Communicator& comm) {
    const int64_t b = kGlobal / world, off = comm.rank() * b;
    at::Tensor li = image.slice(0, off, off + b).clone().requires_grad_(true);
    at::Tensor lt = text.slice(0, off, off + b).clone().requires_grad_(true);
    at::Tensor ls = torch::full({1}, log_scale, torch::kDouble).requires_grad_(true);
    const at::Tensor loss = clipContrastiveLoss(li, lt, ls, comm);
    loss.backward();
    std::lock_guard<std::mutex> lock(mutex);
    loss_sum += loss.item<double>();
    scale_grad_sum += ls.grad().item<double>();
    // features of rank r get the gradient of sum_r L_r; averaging over ranks divides by W
    grad_i.slice(0, off, off + b).copy_(li.grad() / world);
    grad_t.slice(0, off, off + b).copy_(lt.grad() / world);
  });
  EXPECT_NEAR(loss_sum / world, ref.item<double>(), 1e-12);
  EXPECT_NEAR(scale_grad_sum / world, rs.grad().item<double>(), 1e-12);
  EXPECT_TRUE(torch::allclose(grad_i, ri.grad(), 1e-10, 1e-12)) << grad_i << ri.grad();
  EXPECT_TRUE(torch::allclose(grad_t, rt.grad(), 1e-10, 1e-12));
}

INSTANTIATE_TEST_SUITE_P(Ranks, ClipLossDistributedTest, ::testing::Values(1, 2, 4));

}  // namespace
}  // namespace agreid::trainer
