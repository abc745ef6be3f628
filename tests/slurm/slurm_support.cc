#include "tests/slurm/slurm_support.h"

#include <unistd.h>

#include <cstdlib>
#include <regex>
#include <thread>

namespace agreid::testing {

bool SlurmClusterTest::cluster_ok_ = false;
std::string SlurmClusterTest::cluster_error_;

std::string clusterScript() { return std::string(AGREID_SOURCE_DIR) + "/tests/slurm/cluster.sh"; }

void SlurmClusterTest::SetUpTestSuite() {
  cluster_ok_ = false;
  cluster_error_.clear();
  const CommandResult r = runShell(shellQuote(clusterScript()) + " start");
  if (r.exit_code != 0) {
    cluster_error_ = "tests/slurm/cluster.sh start failed (exit " + std::to_string(r.exit_code) +
                     "): " + r.out + r.err;
    return;
  }
  const CommandResult env = runShell(shellQuote(clusterScript()) + " env");
  std::smatch m;
  static const std::regex kConf("SLURM_CONF=(\\S+)");
  if (!std::regex_search(env.out, m, kConf)) {
    cluster_error_ = "tests/slurm/cluster.sh env printed no SLURM_CONF: " + env.out;
    return;
  }
  ::setenv("SLURM_CONF", m[1].str().c_str(), 1);
  cluster_ok_ = true;
}

void SlurmClusterTest::TearDownTestSuite() {
  const CommandResult r = runShell(shellQuote(clusterScript()) + " stop");
  if (r.exit_code != 0)
    std::fprintf(stderr, "cluster.sh stop: %s%s\n", r.out.c_str(), r.err.c_str());
}

void SlurmClusterTest::SetUp() {
  if (::geteuid() != 0 && runShell("command -v slurmctld").exit_code != 0) {
    GTEST_SKIP() << "the local SLURM cluster needs root (or slurm-wlm installed): "
                    "tests/slurm/cluster.sh start";
  }
  ASSERT_TRUE(cluster_ok_) << cluster_error_;
}

CommandResult SlurmClusterTest::inSourceTree(const std::string& command) {
  return runShell("cd " + shellQuote(AGREID_SOURCE_DIR) + " && " + command);
}

std::string SlurmClusterTest::submit(const std::string& args, const std::string& env) {
  const CommandResult r =
      inSourceTree((env.empty() ? "" : env + " ") + "sbatch --parsable " + args);
  EXPECT_EQ(r.exit_code, 0) << "sbatch " << args << ": " << r.out << r.err;
  std::string id = r.out.substr(0, r.out.find_first_of(";\n"));
  EXPECT_FALSE(id.empty()) << "sbatch printed no job id: " << r.out << r.err;
  return id;
}

std::string SlurmClusterTest::jobState(const std::string& job) {
  const CommandResult r = runShell("scontrol show job " + shellQuote(job));
  std::smatch m;
  static const std::regex kState("JobState=(\\S+)");
  return std::regex_search(r.out, m, kState) ? m[1].str() : "";
}

JobOutcome SlurmClusterTest::waitForJob(const std::string& job, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  JobOutcome out;
  while (std::chrono::steady_clock::now() < deadline) {
    const CommandResult r = runShell("scontrol show job " + shellQuote(job));
    std::smatch m;
    static const std::regex kState("JobState=(\\S+)");
    static const std::regex kExit("ExitCode=(\\d+):(\\d+)");
    static const std::regex kRestarts("Restarts=(\\d+)");
    if (std::regex_search(r.out, m, kState)) out.state = m[1].str();
    if (std::regex_search(r.out, m, kExit)) out.exit_code = std::stoi(m[1].str());
    if (std::regex_search(r.out, m, kRestarts)) out.restarts = std::stoi(m[1].str());
    static const char* kFinal[] = {"COMPLETED", "FAILED",    "CANCELLED",
                                   "TIMEOUT",   "NODE_FAIL", "OUT_OF_MEMORY",
                                   "BOOT_FAIL", "DEADLINE",  "PREEMPTED"};
    for (const char* f : kFinal)
      if (out.state == f) return out;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ADD_FAILURE() << "job " << job << " did not finish within " << timeout.count() << " s (state "
                << out.state << ")";
  return out;
}

}  // namespace agreid::testing
