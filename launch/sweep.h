// Running a sweep: the sweep folder, submission as one SLURM job array, sequential local runs,
// and collecting the results into one table (docs/slurm.md, "Sweeps").
//
// The sweep folder (SweepSpec::dir) holds
//   base.toml     the resolved base configuration (base_config + [sweep] set), frozen at submission
//   runs.tsv      one row per point: index, run folder, then one `section.key=value` override per
//                 column (slurm/sweep.sbatch reads row SLURM_ARRAY_TASK_ID)
//   sweep.toml    what `collect` needs: metric, mode, swept keys, number of points
//   spec.toml     a copy of the spec file
//   runs/NNN/     run.out_dir of point NNN (results.json is read from here)
//   cache/        the shared pseudo-label cache (unless the spec sets stage1.cache_dir)
//   status/N      "running", "requeued" or the exit code of point N's last attempt
//   logs/         one log per array task (or per local point)
//
// Thread-safety: none needed; single-threaded, called from the `agreid sweep` command on one
// process (not under MPI).
#pragma once

#include <string>
#include <vector>

#include "base/log.h"
#include "launch/sweep_spec.h"

namespace agreid::launch {

// Writes the sweep folder for `points` (each file through a temporary file and a rename). A
// folder that already holds the same run list is reused; a different one is an InputError.
void writeSweepFolder(const SweepSpec& spec, const std::vector<SweepPoint>& points);

struct SubmitOptions {
  std::string script;         // slurm/sweep.sbatch
  std::string agreid_binary;  // exported to the tasks as AGREID_BIN
  std::string sbatch = "sbatch";
};

// `sbatch --parsable --array=0-(N-1)%max_parallel ... SCRIPT DIR`: one array job. Returns the job
// id. Throws InputError when sbatch is missing or refuses the job (its message included).
std::string submitSweep(const SweepSpec& spec, const std::vector<SweepPoint>& points,
                        const SubmitOptions& options);

// True when `program` names an executable file or is found on PATH.
bool programExists(const std::string& program);

struct LocalOptions {
  std::string agreid_binary;  // the executable that runs each point (`agreid run ...`)
  int ranks = 1;              // > 1: each point runs as `mpiexec -n ranks --oversubscribe ...`
  std::string mpiexec = "mpiexec";
};

// Runs the points one after another as `agreid run --config DIR/base.toml --set ...` (under
// mpiexec when options.ranks > 1), output in
// DIR/logs/local_N.out. Points whose status is 0 and whose results.json exists are skipped (a
// second --local continues). Returns 0 when every point succeeded, else the exit code of the
// first failed point; kExitRequeue when a stop signal arrived between points.
int runSweepLocal(const SweepSpec& spec, const std::vector<SweepPoint>& points,
                  const LocalOptions& options, const Log& log);

}  // namespace agreid::launch
