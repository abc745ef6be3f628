// The distributed CLIP loss at W thread ranks equals the single-process loss over the global batch:
// the mean of the per-rank losses, and the rank-averaged gradients (what GradientReducer does),
// with and without multi-positive keys. The multi-positive loss equals a loop over its definition.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <mutex>
#include <tuple>
#include <utility>
#include <vector>

#include "comm/thread_communicator.h"
#include "trainer/losses/clip_loss.h"

namespace agreid::trainer {
namespace {

class ClipLossDistributedTest : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(ClipLossDistributedTest, EqualsSingleProcess) {
  // Plain variables, not a structured binding: C++17 lambdas cannot capture bindings (clang).
  const int world = std::get<0>(GetParam());
  const bool with_keys = std::get<1>(GetParam());
  constexpr int64_t kGlobal = 8, kDim = 5;
  // Keys shared within a rank's rows and across ranks.
  const at::Tensor keys =
      with_keys ? torch::tensor({0, 1, 0, 2, 3, 1, 4, 0}, torch::kLong) : at::Tensor();
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(11);
  const at::Tensor image = at::randn({kGlobal, kDim}, gen, torch::kDouble);
  const at::Tensor text = at::randn({kGlobal, kDim}, gen, torch::kDouble);
  const double log_scale = std::log(1 / 0.07);

  at::Tensor ri = image.clone().requires_grad_(true), rt = text.clone().requires_grad_(true);
  at::Tensor rs = torch::full({1}, log_scale, torch::kDouble).requires_grad_(true);
  const at::Tensor ref = clipContrastiveLoss(ri, rt, rs, keys);
  ref.backward();

  std::mutex mutex;
  double loss_sum = 0, scale_grad_sum = 0;
  at::Tensor grad_i = torch::zeros_like(image), grad_t = torch::zeros_like(text);
  comm::runRanks(world, [&](comm::Communicator& comm) {
    const int64_t b = kGlobal / world, off = comm.rank() * b;
    at::Tensor li = image.slice(0, off, off + b).clone().requires_grad_(true);
    at::Tensor lt = text.slice(0, off, off + b).clone().requires_grad_(true);
    at::Tensor ls = torch::full({1}, log_scale, torch::kDouble).requires_grad_(true);
    const at::Tensor lk = with_keys ? keys.slice(0, off, off + b) : at::Tensor();
    const at::Tensor loss = clipContrastiveLoss(li, lt, ls, comm, lk);
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

INSTANTIATE_TEST_SUITE_P(Ranks, ClipLossDistributedTest,
                         ::testing::Combine(::testing::Values(1, 2, 4), ::testing::Bool()));

// Row i's loss is the mean over its positives j of -log softmax_j(scale <i_i, t_j>), in both
// directions; the loss is the mean of the two directions' row means.
double loopMultiPositive(const at::Tensor& image, const at::Tensor& text, double scale,
                         const std::vector<int64_t>& keys) {
  const at::Tensor i = image / image.norm(2, 1, true);
  const at::Tensor t = text / text.norm(2, 1, true);
  const int64_t n = image.size(0);
  double total = 0;
  using Pair = std::pair<at::Tensor, at::Tensor>;
  for (const auto& [rows, cols] : {Pair{i, t}, Pair{t, i}}) {
    for (int64_t r = 0; r < n; ++r) {
      std::vector<double> logit(n);
      double max_logit = -1e300;
      for (int64_t c = 0; c < n; ++c) {
        logit[c] = scale * rows[r].dot(cols[c]).item<double>();
        max_logit = std::max(max_logit, logit[c]);
      }
      double z = 0;
      for (double l : logit) z += std::exp(l - max_logit);
      double row = 0;
      int positives = 0;
      for (int64_t c = 0; c < n; ++c) {
        if (keys[c] != keys[r]) continue;
        row += -(logit[c] - max_logit - std::log(z));
        ++positives;
      }
      total += row / positives / n;
    }
  }
  return total / 2;
}

TEST(ClipMultiPositiveTest, EqualsLoopOverDefinition) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const at::Tensor image = at::randn({6, 4}, gen, torch::kDouble);
  const at::Tensor text = at::randn({6, 4}, gen, torch::kDouble);
  const std::vector<int64_t> keys = {7, 7, 2, 7, 2, 9};
  const double log_scale = std::log(1 / 0.07);
  const at::Tensor loss = clipContrastiveLoss(
      image, text, torch::full({1}, log_scale, torch::kDouble), torch::tensor(keys, torch::kLong));
  EXPECT_NEAR(loss.item<double>(), loopMultiPositive(image, text, std::exp(log_scale), keys),
              1e-10);
}

TEST(ClipMultiPositiveTest, DistinctKeysAreThePlainLoss) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(6);
  const at::Tensor image = at::randn({5, 3}, gen, torch::kDouble);
  const at::Tensor text = at::randn({5, 3}, gen, torch::kDouble);
  const at::Tensor scale = torch::full({1}, 2.0, torch::kDouble);
  EXPECT_NEAR(clipContrastiveLoss(image, text, scale, torch::tensor({4, 3, 2, 1, 0}, torch::kLong))
                  .item<double>(),
              clipContrastiveLoss(image, text, scale).item<double>(), 1e-12);
}

TEST(ClipMultiPositiveTest, KeysOfTheWrongShapeAreRefused) {
  const at::Tensor x = torch::randn({4, 3});
  EXPECT_THROW(clipContrastiveLoss(x, x, torch::zeros({1}), torch::zeros({3}, torch::kLong)),
               std::exception);
  EXPECT_THROW(clipContrastiveLoss(x, x, torch::zeros({1}), torch::zeros({4})), std::exception);
}

}  // namespace
}  // namespace agreid::trainer
