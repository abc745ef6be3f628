// Shared checks of the sharded memory bank against a single-process full bank, run by
// memory_bank_test.cc (ThreadCommunicator) and memory_bank_mpi_test.cc (MpiCommunicator).
#pragma once

#include <cstdint>
#include <vector>

#include "comm/communicator.h"
#include "trainer/memory/memory_bank.h"

namespace agreid::trainer::testing {

struct BankCase {
  int64_t num_identities = 10;
  int64_t dim = 6;
  std::vector<int64_t> batch_sizes;  // per rank; empty: 12 / world each
  MemoryLayout layout = MemoryLayout::kSharded;
  int steps = 3;
};

// Every rank calls it: runs `steps` steps of the distributed bank on a fixed global batch per step
// and EXPECTs that losses, feature gradients (as averaged over ranks) and the updated memory equal
// those of one process holding the whole batch and bank.
void expectBankMatchesReference(comm::Communicator& comm, const BankCase& c);

// Every rank calls it: the gathered bank saved at this world size and loaded into a bank of
// another layout reproduces the same rows; random initialisation does not depend on the world.
void expectBankStateRoundTrip(comm::Communicator& comm);

}  // namespace agreid::trainer::testing
