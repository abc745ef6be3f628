// ProcessEnv: where this process sits in the job, read once from the environment at start-up
// (Open MPI's OMPI_COMM_WORLD_*, SLURM's SLURM_*). The only place agreid reads these variables.
#pragma once

#include <optional>
#include <string>

namespace agreid::launch {

struct ProcessEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::optional<std::string> slurm_job_id;
  std::optional<int> slurm_array_task_id;
  bool under_mpi_launcher = false;  // started by mpiexec/mpirun or srun --mpi
  bool under_slurm = false;

  // Reads the variables through `getenv` (injectable for tests).
  static ProcessEnv fromEnvironment(const char* (*getenv_fn)(const char*) = nullptr);
};

}  // namespace agreid::launch
