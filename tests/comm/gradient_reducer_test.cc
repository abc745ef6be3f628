// GradientReducer: W ranks x B/W samples == 1 rank x B samples, on every harness.
#include "comm/gradient_reducer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "base/error.h"
#include "tests/comm/conformance.h"

namespace agreid::comm::testing {
namespace {

using namespace std::chrono_literals;

class GradientReducerTest : public ConformanceTest {};

constexpr int64_t kBatch = 8;  // divisible by every world size (1, 2, 4) and by 2 micro-batches

// A small conv + MLP net in float64, so that sums in another order agree to 1e-12.
struct NetImpl : torch::nn::Module {
  NetImpl() {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(2, 3, 3)));
    fc1 = register_module("fc1", torch::nn::Linear(3 * 3 * 3, 16));
    fc2 = register_module("fc2", torch::nn::Linear(16, 5));
    unused = register_module("unused", torch::nn::Linear(4, 4));  // never in the loss
    partly = register_module("partly", torch::nn::Linear(5, 1));  // used on rank 0 only
    to(torch::kDouble);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = torch::relu(conv->forward(x)).flatten(1);
    return fc2->forward(torch::tanh(fc1->forward(h)));
  }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr}, unused{nullptr}, partly{nullptr};
};
TORCH_MODULE(Net);

// Deterministic data without a random generator (threads share LibTorch's global one).
torch::Tensor inputs() {
  return torch::sin(torch::arange(kBatch * 2 * 5 * 5, torch::kDouble) * 0.37)
      .reshape({kBatch, 2, 5, 5});
}
torch::Tensor labels() { return torch::arange(kBatch, torch::kLong).remainder(5); }

torch::Tensor loss(Net& net, const torch::Tensor& x, const torch::Tensor& y) {
  return torch::nn::functional::cross_entropy(net->forward(x), y);
}

void copyParameters(Net& from, Net& to) {
  torch::NoGradGuard no_grad;
  auto src = from->parameters();
  auto dst = to->parameters();
  for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
}

void expectClose(const torch::Tensor& actual, const torch::Tensor& expected,
                 const std::string& what) {
  ASSERT_TRUE(actual.defined()) << what;
  EXPECT_TRUE(torch::allclose(actual, expected, /*rtol=*/1e-6, /*atol=*/1e-12))
      << what << ": max abs diff " << (actual - expected).abs().max().item<double>();
}

ReducerOptions smallBuckets() {
  ReducerOptions opts;
  opts.first_bucket_cap_bytes = 200;  // several buckets even for this tiny net
  opts.bucket_cap_bytes = 1000;
  opts.timeout = 60s;
  return opts;
}

TEST_P(GradientReducerTest, RanksTimesShardsEqualsOneProcessOnTheWholeBatch) {
  harness_->run([&](Communicator& comm) {
    for (const ReducerOptions& opts : {smallBuckets(), ReducerOptions{}}) {
      Net net;  // a different random init on every rank: the reducer broadcasts rank 0's
      GradientReducer reducer(comm, net->parameters(), net->buffers(), opts);
      Net reference;
      copyParameters(net, reference);
      torch::optim::SGD opt(net->parameters(), 0.1), ref_opt(reference->parameters(), 0.1);
      const int64_t shard = kBatch / comm.size();
      for (int step = 0; step < 2; ++step) {
        opt.zero_grad();
        ref_opt.zero_grad();
        loss(net, inputs().narrow(0, comm.rank() * shard, shard),
             labels().narrow(0, comm.rank() * shard, shard))
            .backward();
        reducer.finalize();
        loss(reference, inputs(), labels()).backward();
        auto params = net->named_parameters();
        auto ref_params = reference->named_parameters();
        for (const auto& item : params) {
          if (item.key().rfind("unused", 0) == 0 || item.key().rfind("partly", 0) == 0) continue;
          expectClose(item.value().grad(), ref_params[item.key()].grad(),
                      "step " + std::to_string(step) + " grad of " + item.key() + " on rank " +
                          std::to_string(comm.rank()));
        }
        opt.step();
        ref_opt.step();
      }
    }
  });
}

TEST_P(GradientReducerTest, ParametersAndBuffersAreBroadcastFromRankZero) {
  harness_->run([&](Communicator& comm) {
    Net net;
    auto buffer = torch::full({3}, static_cast<double>(comm.rank()));
    GradientReducer reducer(comm, net->parameters(), {buffer}, smallBuckets());
    torch::Tensor flat = torch::cat({torch::nn::utils::parameters_to_vector(net->parameters())});
    torch::Tensor all = comm.allGather(flat.detach().unsqueeze(0));
    for (int r = 0; r < comm.size(); ++r) EXPECT_TRUE(torch::equal(all[r], all[0])) << "rank " << r;
    EXPECT_TRUE(torch::equal(buffer, torch::zeros({3}, torch::kDouble))) << buffer;
  });
}

TEST_P(GradientReducerTest, UnusedAndPartlyUsedParametersDoNotDeadlock) {
  harness_->run([&](Communicator& comm) {
    Net net;
    GradientReducer reducer(comm, net->parameters(), {}, smallBuckets());
    for (int step = 0; step < 3; ++step) {
      for (auto& p : net->parameters()) p.mutable_grad() = torch::Tensor();
      auto out = net->forward(inputs().narrow(0, 0, 2));
      auto l = out.sum();
      if (comm.rank() == 0) l = l + net->partly->forward(out).sum();
      l.backward();
      reducer.finalize();  // a deadlock would end in CommError after 60 s
      const double n = comm.size();
      // partly.bias gets gradient 2 (two samples) on rank 0 only: the average is 2 / n.
      expectClose(net->partly->bias.grad(), torch::full({1}, 2.0 / n, torch::kDouble),
                  "partly.bias");
      expectClose(net->unused->weight.grad(), torch::zeros({4, 4}, torch::kDouble),
                  "unused.weight");
    }
  });
}

TEST_P(GradientReducerTest, AccumulatedMicroBatchesEqualOneBigBatch) {
  harness_->run([&](Communicator& comm) {
    Net net;
    GradientReducer reducer(comm, net->parameters(), {}, smallBuckets());
    Net reference;
    copyParameters(net, reference);
    constexpr int kMicro = 2;
    const int64_t shard = kBatch / comm.size();
    const int64_t micro = shard / kMicro;
    for (int m = 0; m < kMicro; ++m) {
      auto x = inputs().narrow(0, comm.rank() * shard + m * micro, micro);
      auto y = labels().narrow(0, comm.rank() * shard + m * micro, micro);
      if (m + 1 < kMicro) {
        GradientReducer::NoSync no_sync(reducer);
        EXPECT_FALSE(reducer.syncEnabled());
        EXPECT_THROW(reducer.finalize(), InternalError);
        (loss(net, x, y) / kMicro).backward();
      } else {
        (loss(net, x, y) / kMicro).backward();
      }
    }
    reducer.finalize();
    loss(reference, inputs(), labels()).backward();
    auto ref_params = reference->named_parameters();
    for (const auto& item : net->named_parameters()) {
      if (item.key().rfind("unused", 0) == 0 || item.key().rfind("partly", 0) == 0) continue;
      expectClose(item.value().grad(), ref_params[item.key()].grad(), "grad of " + item.key());
    }
  });
}

TEST_P(GradientReducerTest, BucketsFollowReverseRegistrationOrderAndCaps) {
  harness_->run([&](Communicator& comm) {
    Net net;
    auto params = net->parameters();
    GradientReducer reducer(comm, params, {}, smallBuckets());
    const auto layout = reducer.bucketLayout();
    std::vector<size_t> order;
    for (size_t b = 0; b < layout.size(); ++b) {
      int64_t bytes = 0;
      for (size_t i : layout[b]) {
        order.push_back(i);
        bytes += params[i].numel() * 8;
      }
      // A bucket exceeds its cap only when it holds a single larger parameter.
      if (layout[b].size() > 1) EXPECT_LE(bytes, b == 0 ? 200 : 1000) << "bucket " << b;
    }
    ASSERT_EQ(order.size(), params.size());
    for (size_t k = 0; k < order.size(); ++k) EXPECT_EQ(order[k], params.size() - 1 - k);
    EXPECT_GT(layout.size(), 2u);
    ReducerOptions defaults;
    defaults.timeout = 60s;
    EXPECT_EQ(GradientReducer(comm, params, {}, defaults).bucketLayout().size(), 1u);
  });
}

INSTANTIATE_TEST_SUITE_P(Comm, GradientReducerTest, ::testing::ValuesIn(harnessesOfThisBinary()),
                         harnessName);

}  // namespace
}  // namespace agreid::comm::testing
