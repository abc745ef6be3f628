// A tiny MPI program for mpi_timeout_test: rank 1 skips one collective (named by argv[1]), rank 0
// must get CommError within the timeout, print it with its rank and abort the job, as
// launch/main.cc does. Exit code 3 (kExitComm) comes from MPI_Abort.
#include <ATen/ATen.h>

#include <mpi.h>

#include <cstdio>
#include <string>

#include "base/error.h"
#include "comm/comm_error.h"
#include "comm/mpi_communicator.h"
#include "comm/mpi_session.h"

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  const std::string collective = argc > 1 ? argv[1] : "allReduce";
  agreid::comm::MpiSession session;
  agreid::comm::MpiCommunicator comm;
  at::Tensor t = at::ones({1024});
  comm.allReduce(t)->wait();  // everyone is connected and in step
  try {
    if (comm.rank() != 1) {
      if (collective == "allReduce")
        comm.allReduce(t, {agreid::comm::ReduceOp::kSum, 500ms})->wait();
      if (collective == "broadcast")
        comm.broadcast(t, {1, 500ms});  // rank 0 receives: cannot finish alone
      if (collective == "allGatherV") comm.allGatherV(t, {500ms});
      if (collective == "barrier") comm.barrier({500ms});
      std::fprintf(stderr, "[rank %d] %s completed although rank 1 skipped it\n", comm.rank(),
                   collective.c_str());
      return 1;
    }
    // Rank 1 is "stuck" (in a receive nobody answers, on another communicator) until the job is
    // aborted; any collective on `comm` would match rank 0's pending one.
    int never = 0;
    MPI_Recv(&never, 1, MPI_INT, 0, 999, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  } catch (const agreid::comm::CommError& e) {
    std::fprintf(stderr, "[rank %d/%d] error: communication failure: %s -- aborting all ranks\n",
                 comm.rank(), comm.size(), e.what());
    agreid::comm::MpiSession::abortAll(agreid::kExitComm);
  }
  return 1;
}
