// ProcessEnv: where this process sits in the job, read once from the environment at start-up
// (Open MPI's OMPI_COMM_WORLD_*, SLURM's SLURM_*, AGREID_PROGRESS), and whether a person watches
// its output (probeTerminal). The only place agreid reads these variables.
#pragma once

#include <optional>
#include <string>

#include "base/log.h"
#include "trainer/options.h"

namespace agreid::launch {

struct ProcessEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::optional<std::string> slurm_job_id;
  std::optional<int> slurm_array_task_id;
  bool under_mpi_launcher = false;  // started by mpiexec/mpirun or srun --mpi
  bool under_slurm = false;
  // AGREID_PROGRESS: "bar", "lines" or "none" when set (another value is an InputError).
  std::optional<ProgressStyle> progress_override;
  // Filled by probeTerminal(): whether stdout is a terminal, and -- under mpiexec, which gives
  // the ranks a pseudo-terminal even when its own output goes to a file -- whether the
  // launcher's stdout is one (nullopt: no launcher process found, or its output not readable).
  bool stdout_is_terminal = false;
  std::optional<bool> launcher_output_is_terminal;

  // Reads the variables through `getenv` (injectable for tests).
  static ProcessEnv fromEnvironment(const char* (*getenv_fn)(const char*) = nullptr);
  // Sets the terminal facts from this process: isatty(stdout), and the stdout of the nearest
  // ancestor process named mpiexec, mpirun, orterun or prterun (via /proc).
  void probeTerminal();
};

// How progress is shown (docs/training.md, "What a user watches"): `setting` is run.progress;
// kAuto takes AGREID_PROGRESS when set, else draws the bar only on a terminal a person watches:
// stdout is a terminal, the process is not in a SLURM job, and under an MPI launcher the
// launcher's own stdout is a terminal too. Otherwise plain lines.
ProgressStyle progressStyleFor(trainer::ProgressSetting setting, const ProcessEnv& env);

}  // namespace agreid::launch
