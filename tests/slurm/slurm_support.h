// Helpers for the tests that run jobs on the local SLURM cluster of tests/slurm/cluster.sh.
//
// SlurmClusterTest starts the cluster in SetUpTestSuite and stops it in TearDownTestSuite, and
// points SLURM_CONF at it for the clients (sbatch, squeue, scontrol, scancel) this process runs.
// Each CTest entry runs one test case (see tests/slurm/CMakeLists.txt), so each starts and stops
// its own cluster; the entries are RUN_SERIAL because the cluster uses fixed ports.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/support/test_support.h"

namespace agreid::testing {

// Final state of a job: its JobState (COMPLETED, FAILED, ...) and restart count.
struct JobOutcome {
  std::string state;
  int exit_code = -1;
  int restarts = 0;
};

class SlurmClusterTest : public ::testing::Test {
 public:
  static void SetUpTestSuite();
  static void TearDownTestSuite();

 protected:
  void SetUp() override;

  // Runs `command` in the source tree (the submit directory of the sbatch scripts).
  static CommandResult inSourceTree(const std::string& command);
  // `sbatch --parsable ARGS` in the source tree with `env` (VAR=value ...) prepended; returns the
  // job id, or "" with a test failure.
  static std::string submit(const std::string& args, const std::string& env = "");
  // The job's JobState field ("" when unknown).
  static std::string jobState(const std::string& job);
  // Polls until the job reaches a final state (not PENDING, RUNNING, REQUEUED, ...).
  static JobOutcome waitForJob(const std::string& job, std::chrono::seconds timeout);

  static bool cluster_ok_;
  static std::string cluster_error_;
};

// Path of the cluster script.
std::string clusterScript();

}  // namespace agreid::testing
