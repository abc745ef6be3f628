// The sharded memory bank with W thread ranks equals a single-process full bank.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "base/error.h"
#include "comm/thread_communicator.h"
#include "tests/trainer/memory_bank_check.h"

namespace agreid::trainer {
namespace {

using testing::BankCase;

class MemoryBankThreadTest : public ::testing::TestWithParam<int> {};

TEST_P(MemoryBankThreadTest, ShardedEqualsFullBank) {
  comm::runRanks(GetParam(), [](comm::Communicator& comm) {
    testing::expectBankMatchesReference(comm, BankCase{});
  });
}

TEST_P(MemoryBankThreadTest, ReplicatedEqualsFullBank) {
  BankCase c;
  c.layout = MemoryLayout::kReplicated;
  comm::runRanks(GetParam(),
                 [&](comm::Communicator& comm) { testing::expectBankMatchesReference(comm, c); });
}

TEST_P(MemoryBankThreadTest, FewerIdentitiesThanRanks) {
  BankCase c;
  c.num_identities = 3;
  comm::runRanks(GetParam(),
                 [&](comm::Communicator& comm) { testing::expectBankMatchesReference(comm, c); });
}

TEST_P(MemoryBankThreadTest, StateRoundTrip) {
  comm::runRanks(GetParam(),
                 [](comm::Communicator& comm) { testing::expectBankStateRoundTrip(comm); });
}

INSTANTIATE_TEST_SUITE_P(Ranks, MemoryBankThreadTest, ::testing::Values(1, 2, 4));

TEST(MemoryBankTest, UnequalLocalBatches) {
  BankCase c;
  c.batch_sizes = {5, 0, 3};
  comm::runRanks(3,
                 [&](comm::Communicator& comm) { testing::expectBankMatchesReference(comm, c); });
}

TEST(MemoryBankTest, ShardRangesCoverAllIdentities) {
  for (int world : {1, 2, 3, 4, 7}) {
    int64_t next = 0;
    for (int r = 0; r < world; ++r) {
      const auto [begin, end] = ContrastiveMemoryBank::shardRange(10, r, world);
      EXPECT_EQ(begin, next);
      EXPECT_GE(end - begin, 10 / world);
      EXPECT_LE(end - begin, 10 / world + 1);
      next = end;
    }
    EXPECT_EQ(next, 10);
  }
}

TEST(MemoryBankTest, LoadFullRejectsWrongShape) {
  comm::runRanks(1, [](comm::Communicator& comm) {
    MemoryBankOptions opts;
    opts.num_identities = 4;
    opts.dim = 2;
    ContrastiveMemoryBank bank(opts, comm);
    try {
      bank.loadFull(torch::zeros({5, 2}));
      ADD_FAILURE() << "no InputError";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("[4, 2]"), std::string::npos) << e.what();
    }
  });
}

}  // namespace
}  // namespace agreid::trainer
