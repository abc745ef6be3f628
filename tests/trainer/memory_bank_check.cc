#include "tests/trainer/memory_bank_check.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace agreid::trainer::testing {
namespace {

constexpr double kTemperature = 0.1;
constexpr double kMomentum = 0.3;

struct Batch {
  at::Tensor features;  // [B, D] double
  at::Tensor labels;    // [B]
};

Batch makeBatch(int64_t global_b, int64_t dim, int64_t num_identities, uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  Batch batch;
  batch.features = at::randn({global_b, dim}, gen, torch::kDouble);
  batch.features = batch.features / batch.features.norm(2, 1, true);
  batch.labels = at::randint(num_identities, {global_b}, gen, torch::kLong);
  return batch;
}

at::Tensor initialBank(int64_t n, int64_t dim) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(99);
  at::Tensor m = at::randn({n, dim}, gen, torch::kDouble);
  return m / m.norm(2, 1, true);
}

// The single-process full bank: plain autograd and a sequential update loop.
struct Reference {
  at::Tensor memory;
  double loss = 0;
  at::Tensor grad;  // d mean loss / d features, [B, D]

  void step(const Batch& batch) {
    at::Tensor f = batch.features.clone().requires_grad_(true);
    at::Tensor l = torch::cross_entropy_loss(f.matmul(memory.t()) / kTemperature, batch.labels);
    grad = torch::autograd::grad({l}, {f})[0];
    loss = l.item<double>();
    for (int64_t i = 0; i < batch.labels.size(0); ++i) {
      const int64_t y = batch.labels[i].item<int64_t>();
      at::Tensor row = kMomentum * memory[y] + (1 - kMomentum) * batch.features[i];
      memory[y] = row / row.norm();
    }
  }
};

}  // namespace

void expectBankMatchesReference(comm::Communicator& comm, const BankCase& c) {
  const int world = comm.size(), rank = comm.rank();
  std::vector<int64_t> sizes = c.batch_sizes;
  if (sizes.empty()) sizes.assign(world, 12 / world);
  ASSERT_EQ(static_cast<int>(sizes.size()), world);
  int64_t global_b = 0, offset = 0;
  for (int r = 0; r < world; ++r) {
    if (r < rank) offset += sizes[r];
    global_b += sizes[r];
  }
  const int64_t b = sizes[rank];

  MemoryBankOptions opts;
  opts.num_identities = c.num_identities;
  opts.dim = c.dim;
  opts.temperature = kTemperature;
  opts.momentum = kMomentum;
  opts.layout = c.layout;
  opts.dtype = torch::kDouble;
  ContrastiveMemoryBank bank(opts, comm);
  Reference ref;
  ref.memory = initialBank(c.num_identities, c.dim);
  bank.loadFull(ref.memory);

  for (int step = 0; step < c.steps; ++step) {
    const Batch batch = makeBatch(global_b, c.dim, c.num_identities, 1000 + step);
    at::Tensor f = batch.features.slice(0, offset, offset + b).clone().requires_grad_(true);
    const MemoryBankOutput out = bank.forward(f, batch.labels.slice(0, offset, offset + b));
    ref.step(batch);

    EXPECT_NEAR(out.global_loss, ref.loss, 1e-12) << "step " << step << " rank " << rank;
    at::Tensor weighted = out.loss.detach().reshape({1}) * static_cast<double>(b);
    comm.allReduce(weighted)->wait();
    EXPECT_NEAR(weighted.item<double>() / static_cast<double>(global_b), ref.loss, 1e-12);

    out.loss.backward();
    // grad of this rank's mean; times b/B it is this rank's share of the global-mean gradient
    const at::Tensor got = f.grad() * (static_cast<double>(b) / static_cast<double>(global_b));
    EXPECT_TRUE(torch::allclose(got, ref.grad.slice(0, offset, offset + b), 1e-10, 1e-12))
        << "step " << step << " rank " << rank << "\n"
        << got << "\n"
        << ref.grad.slice(0, offset, offset + b);
    EXPECT_TRUE(torch::allclose(bank.gatherFull(), ref.memory, 1e-12, 1e-14))
        << "memory after step " << step << " rank " << rank;
    const at::Tensor expected_shard = ref.memory.slice(0, bank.shardBegin(), bank.shardEnd());
    EXPECT_TRUE(torch::allclose(bank.shard(), expected_shard, 1e-12, 1e-14));
  }
}

void expectBankStateRoundTrip(comm::Communicator& comm) {
  MemoryBankOptions opts;
  opts.num_identities = 9001;  // more than two initialisation chunks, not divisible by 2 or 4
  opts.dim = 3;
  ContrastiveMemoryBank sharded(opts, comm);
  sharded.initializeRandom(5);
  const at::Tensor full = sharded.gatherFull();

  MemoryBankOptions single = opts;
  single.layout = MemoryLayout::kReplicated;
  ContrastiveMemoryBank replicated(single, comm);
  replicated.initializeRandom(5);
  EXPECT_TRUE(torch::equal(replicated.shard(), full)) << "initialisation depends on the world";
  EXPECT_TRUE(torch::allclose(full.norm(2, 1), torch::ones({opts.num_identities})));

  ContrastiveMemoryBank reloaded(opts, comm);
  reloaded.loadFull(full);
  EXPECT_TRUE(torch::equal(reloaded.shard(), sharded.shard()));
  const auto range =
      ContrastiveMemoryBank::shardRange(opts.num_identities, comm.rank(), comm.size());
  EXPECT_EQ(reloaded.shardBegin(), range.first);
  EXPECT_EQ(reloaded.shardEnd(), range.second);
}

}  // namespace agreid::trainer::testing
