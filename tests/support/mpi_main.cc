// main() for tests run under mpiexec: initialises MPI once, lets only rank 0 print GoogleTest's
// progress, and makes the exit code non-zero on every rank when any rank failed.
#include <gtest/gtest.h>
#include <mpi.h>

#include "comm/mpi_session.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  agreid::comm::MpiSession mpi;
  if (mpi.rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int local_failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  int any_failed = 0;
  MPI_Allreduce(&local_failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (local_failed) std::fprintf(stderr, "[rank %d] tests failed on this rank\n", mpi.rank());
  return any_failed;
}
