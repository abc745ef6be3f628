// allGatherWithGrad: a contrastive loss over the gathered global batch equals the single-process
// loss; feature gradients follow the documented convention (W x dL/dx on the owning rank) and,
// through GradientReducer's average, parameter gradients equal the single-process ones.
#include "comm/all_gather_autograd.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "comm/gradient_reducer.h"
#include "tests/comm/conformance.h"

namespace agreid::comm::testing {
namespace {

using namespace std::chrono_literals;

class AllGatherWithGradTest : public ConformanceTest {};

constexpr int64_t kBatch = 8;
constexpr int64_t kDim = 6;

torch::Tensor features(double phase) {
  return torch::sin(torch::arange(kBatch * kDim, torch::kDouble) * 0.61 + phase)
      .reshape({kBatch, kDim});
}

// Symmetric image-text InfoNCE with temperature 0.1 over all rows.
torch::Tensor infoNce(const torch::Tensor& image, const torch::Tensor& text) {
  auto logits = torch::matmul(torch::nn::functional::normalize(image),
                              torch::nn::functional::normalize(text).t()) /
                0.1;
  auto targets = torch::arange(image.size(0), torch::kLong);
  return (torch::nn::functional::cross_entropy(logits, targets) +
          torch::nn::functional::cross_entropy(logits.t(), targets)) /
         2;
}

void expectClose(const torch::Tensor& actual, const torch::Tensor& expected,
                 const std::string& what) {
  ASSERT_TRUE(actual.defined()) << what;
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  EXPECT_TRUE(torch::allclose(actual, expected, 1e-9, 1e-12))
      << what << ": max abs diff " << (actual - expected).abs().max().item<double>();
}

TEST_P(AllGatherWithGradTest, InfoNceOverGatheredFeaturesMatchesOneProcess) {
  harness_->run([&](Communicator& comm) {
    const int64_t shard = kBatch / comm.size();
    const int64_t start = comm.rank() * shard;
    auto image = features(0.0).narrow(0, start, shard).clone().requires_grad_();
    auto text = features(1.3).narrow(0, start, shard).clone().requires_grad_();
    auto all_image = allGatherWithGrad(comm, image);
    auto all_text = allGatherWithGrad(comm, text);
    EXPECT_EQ(all_image.size(0), kBatch);
    auto l = infoNce(all_image, all_text);
    l.backward();

    auto ref_image = features(0.0).requires_grad_();
    auto ref_text = features(1.3).requires_grad_();
    auto ref = infoNce(ref_image, ref_text);
    ref.backward();
    EXPECT_NEAR(l.item<double>(), ref.item<double>(), 1e-12);
    const double w = comm.size();
    expectClose(image.grad(), w * ref_image.grad().narrow(0, start, shard), "image feature grads");
    expectClose(text.grad(), w * ref_text.grad().narrow(0, start, shard), "text feature grads");
  });
}

TEST_P(AllGatherWithGradTest, WithTheReducerParameterGradientsMatchOneProcess) {
  harness_->run([&](Communicator& comm) {
    torch::nn::Linear image_head(kDim, 4), text_head(kDim, 4);
    image_head->to(torch::kDouble);
    text_head->to(torch::kDouble);
    auto params = image_head->parameters();
    for (auto& p : text_head->parameters()) params.push_back(p);
    ReducerOptions opts;
    opts.timeout = 60s;
    GradientReducer reducer(comm, params, {}, opts);  // rank 0's weights everywhere

    const int64_t shard = kBatch / comm.size();
    const int64_t start = comm.rank() * shard;
    auto image = image_head->forward(features(0.0).narrow(0, start, shard));
    auto text = text_head->forward(features(1.3).narrow(0, start, shard));
    infoNce(allGatherWithGrad(comm, image), allGatherWithGrad(comm, text)).backward();
    reducer.finalize();

    std::vector<torch::Tensor> grads;
    for (auto& p : params) grads.push_back(p.grad().clone());
    for (auto& p : params) p.mutable_grad() = torch::Tensor();
    infoNce(image_head->forward(features(0.0)), text_head->forward(features(1.3))).backward();
    for (size_t i = 0; i < params.size(); ++i)
      expectClose(grads[i], params[i].grad(), "parameter " + std::to_string(i));
  });
}

INSTANTIATE_TEST_SUITE_P(Comm, AllGatherWithGradTest, ::testing::ValuesIn(harnessesOfThisBinary()),
                         harnessName);

}  // namespace
}  // namespace agreid::comm::testing
