// W ranks x B/W samples == 1 rank x B samples for the stage-2 objective (ranks as threads).
#include <gtest/gtest.h>

#include "comm/thread_communicator.h"
#include "tests/trainer/stage2_equivalence_check.h"

namespace agreid::trainer::testing {
namespace {

class Stage2Equivalence : public ::testing::TestWithParam<int> {};

TEST_P(Stage2Equivalence, ReducedGradientsEqualOneProcess) {
  comm::runRanks(GetParam(), [](comm::Communicator& comm) {
    EXPECT_LT(stage2GradientMismatch(comm), 1e-6) << "rank " << comm.rank();
  });
}

INSTANTIATE_TEST_SUITE_P(WorldSizes, Stage2Equivalence, ::testing::Values(1, 2, 4));

}  // namespace
}  // namespace agreid::trainer::testing
