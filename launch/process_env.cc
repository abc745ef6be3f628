#include "launch/process_env.h"

#include <cstdlib>
#include <stdexcept>

#include "base/error.h"

namespace agreid::launch {
namespace {

std::optional<int> readInt(const char* (*get)(const char*), const char* name) {
  const char* v = get(name);
  if (!v || !*v) return std::nullopt;
  try {
    size_t used = 0;
    int x = std::stoi(v, &used);
    if (used != std::string(v).size()) throw std::invalid_argument(v);
    return x;
  } catch (const std::exception&) {
    throw InputError(std::string("environment variable ") + name + "='" + v +
                     "' is not an integer");
  }
}

const char* systemGetenv(const char* name) { return std::getenv(name); }

}  // namespace

ProcessEnv ProcessEnv::fromEnvironment(const char* (*getenv_fn)(const char*)) {
  auto get = getenv_fn ? getenv_fn : &systemGetenv;
  ProcessEnv env;
  // Open MPI first (mpiexec, or srun --mpi=pmix which also sets these), then SLURM's own.
  if (auto r = readInt(get, "OMPI_COMM_WORLD_RANK")) {
    env.rank = *r;
    env.world_size = readInt(get, "OMPI_COMM_WORLD_SIZE").value_or(1);
    env.local_rank = readInt(get, "OMPI_COMM_WORLD_LOCAL_RANK").value_or(0);
    env.under_mpi_launcher = true;
  } else if (auto r = readInt(get, "SLURM_PROCID"); r && get("SLURM_STEP_ID")) {
    env.rank = *r;
    env.world_size = readInt(get, "SLURM_NTASKS").value_or(1);
    env.local_rank = readInt(get, "SLURM_LOCALID").value_or(0);
    env.under_mpi_launcher = get("PMIX_RANK") != nullptr || get("PMI_RANK") != nullptr;
  }
  if (const char* j = get("SLURM_JOB_ID"); j && *j) {
    env.slurm_job_id = j;
    env.under_slurm = true;
  }
  env.slurm_array_task_id = readInt(get, "SLURM_ARRAY_TASK_ID");
  return env;
}

}  // namespace agreid::launch
