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

}  // namespace
}  // namespace agreid::launch
