// W ranks x B/W samples == 1 rank x B samples for the stage-2 objective (ranks under mpiexec).
#include <gtest/gtest.h>

#include "comm/mpi_communicator.h"
#include "tests/trainer/stage2_equivalence_check.h"

namespace agreid::trainer::testing {
namespace {

TEST(Stage2EquivalenceMpi, ReducedGradientsEqualOneProcess) {
  comm::MpiCommunicator comm;
  EXPECT_LT(stage2GradientMismatch(comm), 1e-6);
}

}  // namespace
}  // namespace agreid::trainer::testing
