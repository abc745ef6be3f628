// The sbatch scripts on a real local SLURM cluster, with job_probe (an MPI program with the
// argument shape of `agreid run`) as the binary: srun --mpi=pmix and mpirun give a working MPI
// world; SIGUSR1 to the batch shell reaches every rank, the job exits 75, is requeued and resumes
// from its checkpoint; other failures are not requeued.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/slurm/slurm_support.h"
#include "tests/support/test_support.h"

namespace agreid::testing {
namespace {

using std::chrono::seconds;

std::string probeEnv(const std::string& extra = "") {
  return "AGREID_BIN=" + shellQuote(AGREID_JOB_PROBE) + (extra.empty() ? "" : " " + extra);
}

// sbatch options for 2 ranks on the CPU-only test node.
std::string twoRanks(const TempDir& dir) {
  return "--gpus-per-task=0 --ntasks-per-node=2 --cpus-per-task=1 --output=" +
         shellQuote(dir.file("job.out"));
}

using SlurmScripts = SlurmClusterTest;

TEST_F(SlurmScripts, TrainSbatchRunsTwoRanksWithSrunPmix) {
  TempDir dir;
  const std::string job =
      submit(twoRanks(dir) + " slurm/train.sbatch " + shellQuote(dir.path().string()) +
                 " --set steps=3 --set step_ms=20",
             probeEnv());
  ASSERT_FALSE(job.empty());
  const JobOutcome out = waitForJob(job, seconds(180));
  const std::string log = readFile(dir.file("job.out"));
  ASSERT_EQ(out.state, "COMPLETED") << log;
  EXPECT_EQ(readFile(dir.file("results.json")),
            "world=2 sum=3 env_world=2 steps=3 resumed_from=0\n")
      << log;
  EXPECT_NE(log.find("srun --mpi=pmix --kill-on-bad-exit=1"), std::string::npos) << log;
  EXPECT_NE(log.find("job_probe: rank 1/2 (env rank 1/2"), std::string::npos) << log;
}

TEST_F(SlurmScripts, TrainSbatchMpirunFallback) {
  TempDir dir;
  const std::string job =
      submit(twoRanks(dir) + " slurm/train.sbatch " + shellQuote(dir.path().string()) +
                 " --set steps=2 --set step_ms=20",
             probeEnv("AGREID_LAUNCHER=mpirun"));
  ASSERT_FALSE(job.empty());
  const JobOutcome out = waitForJob(job, seconds(180));
  const std::string log = readFile(dir.file("job.out"));
  ASSERT_EQ(out.state, "COMPLETED") << log;
  EXPECT_EQ(readFile(dir.file("results.json")),
            "world=2 sum=3 env_world=2 steps=2 resumed_from=0\n")
      << log;
  EXPECT_NE(log.find("mpirun -np 2"), std::string::npos) << log;
}

TEST_F(SlurmScripts, Usr1CheckpointsRequeuesAndResumes) {
  TempDir dir;
  const std::string job =
      submit(twoRanks(dir) + " slurm/train.sbatch " + shellQuote(dir.path().string()) +
                 " --set steps=150 --set step_ms=100",
             probeEnv());
  ASSERT_FALSE(job.empty());
  // Wait until the ranks are counting, then send the pre-emption warning to the batch shell.
  const auto deadline = std::chrono::steady_clock::now() + seconds(120);
  while (readFile(dir.file("progress")).empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_FALSE(readFile(dir.file("progress")).empty()) << readFile(dir.file("job.out"));
  const CommandResult sig = runShell("scancel --signal=USR1 --batch " + job);
  ASSERT_EQ(sig.exit_code, 0) << sig.err;
  const JobOutcome out = waitForJob(job, seconds(400));
  const std::string log = readFile(dir.file("job.out"));
  ASSERT_EQ(out.state, "COMPLETED") << log;
  EXPECT_EQ(out.restarts, 1) << log;
  const std::string result = readFile(dir.file("results.json"));
  const auto from = result.find("resumed_from=");
  ASSERT_NE(from, std::string::npos) << log;
  const int resumed = std::stoi(result.substr(from + 13));
  EXPECT_GT(resumed, 0) << log;
  EXPECT_LT(resumed, 150) << log;
  EXPECT_EQ(result.substr(0, from), "world=2 sum=3 env_world=2 steps=150 ") << log;
  EXPECT_NE(log.find("forwarding SIGUSR1 to the job step"), std::string::npos) << log;
  EXPECT_NE(log.find("checkpoint at step " + std::to_string(resumed)), std::string::npos) << log;
  EXPECT_NE(log.find("job step exited with 75"), std::string::npos) << log;
  EXPECT_NE(log.find("requeueing job " + job), std::string::npos) << log;
  EXPECT_NE(log.find("restart 1:"), std::string::npos) << log;  // the appended second run
}

TEST_F(SlurmScripts, FailureIsNotRequeued) {
  TempDir dir;
  // Every rank exits 2 (an input error) after joining the MPI world.
  const std::string job = submit(twoRanks(dir) + " slurm/train.sbatch " +
                                     shellQuote(dir.path().string()) + " --set exit_code=2",
                                 probeEnv());
  ASSERT_FALSE(job.empty());
  const JobOutcome out = waitForJob(job, seconds(180));
  const std::string log = readFile(dir.file("job.out"));
  EXPECT_EQ(out.state, "FAILED") << log;
  // srun reports the highest task status: 2, or 143 for the rank that --kill-on-bad-exit ended.
  EXPECT_NE(out.exit_code, 0) << log;
  EXPECT_NE(out.exit_code, 75) << log;
  EXPECT_NE(log.find("Exited with exit code 2"), std::string::npos) << log;
  EXPECT_EQ(out.restarts, 0) << log;
  EXPECT_EQ(log.find("requeueing"), std::string::npos) << log;
}

// A step that exits with 0 without writing its results file (as when the ranks never ran the
// command to its end) is launched once more, then fails the job, whether the file is missing or
// left from an earlier run.
TEST_F(SlurmScripts, StepWithoutResultFails) {
  for (const bool stale : {false, true}) {
    TempDir dir;
    if (stale) writeFile(dir.file("results.json"), "from an earlier run\n");
    const std::string job =
        submit(twoRanks(dir) + " slurm/train.sbatch " + shellQuote(dir.path().string()) +
                   " --set steps=1 --set step_ms=10 --set result=none",
               probeEnv());
    ASSERT_FALSE(job.empty());
    const JobOutcome out = waitForJob(job, seconds(180));
    const std::string log = readFile(dir.file("job.out"));
    EXPECT_EQ(out.state, "FAILED") << log;
    EXPECT_EQ(out.exit_code, 1) << log;
    // Launched twice (a launch failure is retried once), then failed.
    const size_t relaunch = log.find("launching the job step once more");
    ASSERT_NE(relaunch, std::string::npos) << log;
    EXPECT_NE(log.find("job step exited with 0"), std::string::npos) << log;
    EXPECT_NE(log.find("job step exited with 0", relaunch), std::string::npos) << log;
    const std::string why =
        stale ? "did not write its result: " + dir.file("results.json") +
                    " is unchanged since the step started"
              : "wrote no result: " + dir.file("results.json") + " does not exist";
    EXPECT_NE(log.find(why), std::string::npos) << log;
    EXPECT_EQ(log.find("requeueing"), std::string::npos) << log;
  }
}

}  // namespace
}  // namespace agreid::testing
