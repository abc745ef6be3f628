// Runs mpi_timeout_probe under `mpiexec -n 2`: rank 1 skips a collective, so rank 0 must throw
// CommError naming the collective, its rank and the timeout, and the whole job must end with a
// non-zero exit code instead of hanging.
#include <gtest/gtest.h>

#include <string>

#include "tests/support/test_support.h"

namespace {

using agreid::testing::runShell;

class MpiTimeoutTest : public ::testing::TestWithParam<std::string> {};

TEST_P(MpiTimeoutTest, SkippedCollectiveAbortsTheJobWithTheRankInTheError) {
  const auto start = std::chrono::steady_clock::now();
  const auto result = runShell(std::string("timeout 120 ") + AGREID_MPIEXEC +
                               " -n 2 --oversubscribe " + AGREID_TIMEOUT_PROBE + " " + GetParam());
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_NE(result.exit_code, 0) << result.err;
  EXPECT_NE(result.exit_code, 124) << "the job hung until the outer timeout";
  const std::string expected = "[rank 0/2] error: communication failure: " + GetParam() + " #";
  EXPECT_NE(result.err.find(expected), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("did not complete within 500 ms on rank 0 of 2 (mpi)"),
            std::string::npos)
      << result.err;
  EXPECT_EQ(result.err.find("completed although"), std::string::npos) << result.err;
  EXPECT_LT(elapsed, std::chrono::seconds(100));
}

INSTANTIATE_TEST_SUITE_P(Collectives, MpiTimeoutTest,
                         ::testing::Values("allReduce", "broadcast", "allGatherV", "barrier"));

}  // namespace
