// The sharded memory bank over MPI ranks equals a single-process full bank (run by
// mpiexec -n 1, 2 and 4).
#include <gtest/gtest.h>

#include "comm/mpi_communicator.h"
#include "tests/trainer/memory_bank_check.h"

namespace agreid::trainer {
namespace {

TEST(MemoryBankMpiTest, ShardedEqualsFullBank) {
  comm::MpiCommunicator comm;
  testing::expectBankMatchesReference(comm, testing::BankCase{});
}

TEST(MemoryBankMpiTest, ReplicatedEqualsFullBank) {
  comm::MpiCommunicator comm;
  testing::BankCase c;
  c.layout = MemoryLayout::kReplicated;
  testing::expectBankMatchesReference(comm, c);
}

TEST(MemoryBankMpiTest, StateRoundTrip) {
  comm::MpiCommunicator comm;
  testing::expectBankStateRoundTrip(comm);
}

}  // namespace
}  // namespace agreid::trainer
