// Stage1Batches (trainer/stages/stage1_batches.h): the batches of stage 1 over sharded features.
#include "trainer/stages/stage1_batches.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "comm/thread_communicator.h"
#include "tests/data/data_test_util.h"

namespace agreid::trainer {
namespace {

struct Case {
  int64_t n, batch;
  int world;
};

const Case kCases[] = {{1, 1, 1},     {7, 3, 1}, {100, 64, 1}, {100, 64, 2}, {101, 4, 4},
                       {1001, 64, 3}, {5, 5, 4}, {64, 64, 4},  {1000, 7, 2}};

TEST(Stage1Batches, ShardsAreDisjointAndCoverTheDataset) {
  for (const Case& c : kCases) {
    const Stage1Batches b(c.n, c.batch, c.world, 1);
    int64_t next = 0;
    for (int r = 0; r < c.world; ++r) {
      EXPECT_EQ(b.shardBegin(r), next) << c.n << " " << c.world;  // contiguous, in rank order
      next += b.shardSize(r);
    }
    EXPECT_EQ(next, c.n);
  }
}

// Every rank visits each of its rows once per epoch; every global batch holds t - s rows give or
// take W - 1 and is never empty; the sizes add up to N.
TEST(Stage1Batches, AnEpochVisitsEveryRowOnceInBatchesOfTheIntendedSize) {
  for (const Case& c : kCases) {
    const Stage1Batches b(c.n, c.batch, c.world, 9);
    std::set<int64_t> seen;  // global rows
    int64_t images = 0;
    for (int r = 0; r < c.world; ++r) {
      const at::Tensor order = b.epochOrder(r, 2);
      EXPECT_TRUE(torch::equal(std::get<0>(order.sort()), torch::arange(b.shardSize(r))));
      int64_t position = 0;
      for (int64_t step = 0; step < b.stepsPerEpoch(); ++step) {
        const auto [begin, end] = b.positions(r, step);
        EXPECT_EQ(begin, position);  // consecutive positions of the permutation
        position = end;
        for (int64_t p = begin; p < end; ++p) {
          EXPECT_TRUE(seen.insert(b.shardBegin(r) + order[p].item<int64_t>()).second);
        }
      }
      EXPECT_EQ(position, b.shardSize(r));
    }
    EXPECT_EQ(static_cast<int64_t>(seen.size()), c.n);
    for (int64_t step = 0; step < b.stepsPerEpoch(); ++step) {
      const int64_t want = std::min(c.batch, c.n - step * c.batch);
      int64_t got = 0;
      for (int64_t k : b.counts(step)) got += k;
      EXPECT_GE(got, std::max<int64_t>(1, want - (c.world - 1))) << c.n << " step " << step;
      EXPECT_LE(got, want + (c.world - 1)) << c.n << " step " << step;
      images += got;
    }
    EXPECT_EQ(images, c.n);
  }
}

// One rank: the unsharded loop's batches -- a permutation of all N seeded by (seed, epoch), cut
// into consecutive chunks of B.
TEST(Stage1Batches, OneRankKeepsTheUnshardedBatches) {
  const uint64_t seed = 1234;
  const Stage1Batches b(1000, 64, 1, seed);
  for (int64_t epoch : {0, 3}) {
    auto gen = at::detail::createCPUGenerator(seed * 1000003ULL + static_cast<uint64_t>(epoch));
    EXPECT_TRUE(torch::equal(b.epochOrder(0, epoch),
                             at::randperm(1000, gen, at::TensorOptions().dtype(at::kLong))));
  }
  EXPECT_EQ(b.stepsPerEpoch(), 16);
  for (int64_t step = 0; step < 16; ++step) {
    EXPECT_EQ(b.positions(0, step),
              std::make_pair(step * 64, std::min<int64_t>(1000, step * 64 + 64)));
  }
}

TEST(Stage1Batches, DeterministicPerSeedEpochAndRank) {
  const Stage1Batches a(100, 8, 2, 5), same(100, 8, 2, 5), other(100, 8, 2, 6);
  EXPECT_TRUE(torch::equal(a.epochOrder(1, 4), same.epochOrder(1, 4)));
  EXPECT_FALSE(torch::equal(a.epochOrder(1, 4), other.epochOrder(1, 4)));
  EXPECT_FALSE(torch::equal(a.epochOrder(1, 4), a.epochOrder(1, 5)));
  EXPECT_FALSE(torch::equal(a.epochOrder(0, 4), a.epochOrder(1, 4)));
}

// The global batch from unequal shares (one of them empty): every rank gets all ranks' rows in rank
// order, and the gradient of a loss every rank computes over them arrives at each rank's own rows
// summed over the ranks (allGatherWithGrad's convention: W times the one-process gradient).
TEST(Stage1Batches, GatherBatchRowsJoinsUnequalSharesWithTheirGradient) {
  for (const std::vector<int64_t>& counts :
       {std::vector<int64_t>{3, 1}, std::vector<int64_t>{2, 0, 3},
        std::vector<int64_t>{1, 1, 1, 1}}) {
    const int world = static_cast<int>(counts.size());
    int64_t total = 0;
    for (int64_t c : counts) total += c;
    const at::Tensor rows = torch::arange(total * 2, torch::kFloat).reshape({total, 2});
    const at::Tensor labels = torch::arange(total, torch::kLong) * 7;
    const at::Tensor weight = torch::linspace(-1, 1, total * 2).reshape({total, 2});
    comm::runRanks(world, [&](comm::Communicator& comm) {
      int64_t first = 0;
      for (int r = 0; r < comm.rank(); ++r) first += counts[static_cast<size_t>(r)];
      const int64_t n = counts[static_cast<size_t>(comm.rank())];
      const at::Tensor local = rows.slice(0, first, first + n).clone().requires_grad_(true);
      const at::Tensor all = gatherBatchRows(comm, local, counts, true);
      EXPECT_TRUE(torch::equal(all.detach(), rows));
      (all * weight).sum().backward();
      EXPECT_TRUE(torch::allclose(local.grad(), world * weight.slice(0, first, first + n)));
      EXPECT_TRUE(torch::equal(
          gatherBatchRows(comm, labels.slice(0, first, first + n), counts, false), labels));
    });
  }
}

TEST(Stage1Batches, RefusesABatchSmallerThanTheRanks) {
  agreid::testing::expectOneLineInputError([] { Stage1Batches(100, 3, 4, 1); },
                                           {"stage1.batch_size = 3", "number of ranks (4)"});
  agreid::testing::expectOneLineInputError([] { Stage1Batches(0, 64, 1, 1); },
                                           {"stage 1 needs training images"});
}

}  // namespace
}  // namespace agreid::trainer
