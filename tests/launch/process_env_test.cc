#include <gtest/gtest.h>

#include <map>
#include <string>

#include "base/error.h"
#include "launch/process_env.h"

namespace agreid::launch {
namespace {

std::map<std::string, std::string> g_env;
const char* fakeGetenv(const char* name) {
  auto it = g_env.find(name);
  return it == g_env.end() ? nullptr : it->second.c_str();
}

TEST(ProcessEnv, SingleProcessDefaults) {
  g_env = {};
  auto e = ProcessEnv::fromEnvironment(&fakeGetenv);
  EXPECT_EQ(e.rank, 0);
  EXPECT_EQ(e.world_size, 1);
  EXPECT_FALSE(e.under_slurm);
}

TEST(ProcessEnv, OpenMpi) {
  g_env = {{"OMPI_COMM_WORLD_RANK", "3"},
           {"OMPI_COMM_WORLD_SIZE", "4"},
           {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}};
  auto e = ProcessEnv::fromEnvironment(&fakeGetenv);
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.world_size, 4);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_TRUE(e.under_mpi_launcher);
}

TEST(ProcessEnv, SlurmStepAndArray) {
  g_env = {{"SLURM_PROCID", "1"},  {"SLURM_NTASKS", "2"},  {"SLURM_LOCALID", "1"},
           {"SLURM_STEP_ID", "0"}, {"SLURM_JOB_ID", "42"}, {"SLURM_ARRAY_TASK_ID", "5"}};
  auto e = ProcessEnv::fromEnvironment(&fakeGetenv);
  EXPECT_EQ(e.rank, 1);
  EXPECT_EQ(e.world_size, 2);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.slurm_job_id.value(), "42");
  EXPECT_EQ(e.slurm_array_task_id.value(), 5);
}

TEST(ProcessEnv, BatchScriptIsNotAStep) {
  // In the batch script SLURM_PROCID=0 but the rank count is 1 until srun starts the step.
  g_env = {{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}, {"SLURM_JOB_ID", "7"}};
  auto e = ProcessEnv::fromEnvironment(&fakeGetenv);
  EXPECT_EQ(e.world_size, 1);
  EXPECT_TRUE(e.under_slurm);
}

TEST(ProcessEnv, MalformedVariable) {
  g_env = {{"OMPI_COMM_WORLD_RANK", "x1"}};
  EXPECT_THROW(ProcessEnv::fromEnvironment(&fakeGetenv), InputError);
}

TEST(ProcessEnv, ProgressOverride) {
  g_env = {{"AGREID_PROGRESS", "lines"}};
  EXPECT_EQ(ProcessEnv::fromEnvironment(&fakeGetenv).progress_override, ProgressStyle::kLines);
  g_env = {{"AGREID_PROGRESS", "bar"}};
  EXPECT_EQ(ProcessEnv::fromEnvironment(&fakeGetenv).progress_override, ProgressStyle::kBar);
  g_env = {{"AGREID_PROGRESS", "none"}};
  EXPECT_EQ(ProcessEnv::fromEnvironment(&fakeGetenv).progress_override, ProgressStyle::kNone);
  g_env = {};
  EXPECT_FALSE(ProcessEnv::fromEnvironment(&fakeGetenv).progress_override.has_value());
  g_env = {{"AGREID_PROGRESS", "fancy"}};
  try {
    ProcessEnv::fromEnvironment(&fakeGetenv);
    ADD_FAILURE() << "no error for AGREID_PROGRESS=fancy";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "environment variable AGREID_PROGRESS='fancy' must be bar, lines or none");
  }
}

// The bar only where a person watches: a terminal, outside SLURM, and under mpiexec only when
// mpiexec's own output is a terminal (its ranks always get a pseudo-terminal).
TEST(ProcessEnv, ProgressStyleRule) {
  constexpr auto kAuto = trainer::ProgressSetting::kAuto;
  constexpr auto kBar = trainer::ProgressSetting::kBar;
  constexpr auto kLines = trainer::ProgressSetting::kLines;
  ProcessEnv terminal;
  terminal.stdout_is_terminal = true;
  EXPECT_EQ(progressStyleFor(kAuto, terminal), ProgressStyle::kBar);

  ProcessEnv file = terminal;
  file.stdout_is_terminal = false;
  EXPECT_EQ(progressStyleFor(kAuto, file), ProgressStyle::kLines);

  ProcessEnv slurm = terminal;
  slurm.under_slurm = true;
  EXPECT_EQ(progressStyleFor(kAuto, slurm), ProgressStyle::kLines);

  ProcessEnv mpi = terminal;
  mpi.under_mpi_launcher = true;
  mpi.launcher_output_is_terminal = false;  // mpiexec ... > job.log
  EXPECT_EQ(progressStyleFor(kAuto, mpi), ProgressStyle::kLines);
  mpi.launcher_output_is_terminal = std::nullopt;  // no launcher found (a remote daemon)
  EXPECT_EQ(progressStyleFor(kAuto, mpi), ProgressStyle::kLines);
  mpi.launcher_output_is_terminal = true;  // mpiexec in an interactive shell
  EXPECT_EQ(progressStyleFor(kAuto, mpi), ProgressStyle::kBar);

  // run.progress wins; AGREID_PROGRESS decides what "auto" means.
  EXPECT_EQ(progressStyleFor(kBar, file), ProgressStyle::kBar);
  EXPECT_EQ(progressStyleFor(kLines, terminal), ProgressStyle::kLines);
  ProcessEnv forced = file;
  forced.progress_override = ProgressStyle::kBar;
  EXPECT_EQ(progressStyleFor(kAuto, forced), ProgressStyle::kBar);
  EXPECT_EQ(progressStyleFor(kLines, forced), ProgressStyle::kLines);
  forced = terminal;
  forced.progress_override = ProgressStyle::kNone;
  EXPECT_EQ(progressStyleFor(kAuto, forced), ProgressStyle::kNone);
}

}  // namespace
}  // namespace agreid::launch
