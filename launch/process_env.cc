#include "launch/process_env.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
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

std::optional<ProgressStyle> readProgressOverride(const char* (*get)(const char*)) {
  const char* v = get("AGREID_PROGRESS");
  if (!v || !*v) return std::nullopt;
  const std::string s(v);
  if (s == "bar") return ProgressStyle::kBar;
  if (s == "lines") return ProgressStyle::kLines;
  if (s == "none") return ProgressStyle::kNone;
  throw InputError("environment variable AGREID_PROGRESS='" + s + "' must be bar, lines or none");
}

// The parent of `pid` from /proc/PID/stat ("pid (comm) state ppid ..."; comm may hold spaces or
// parentheses, so the fields are read after the last ')'); 0 when unreadable.
pid_t parentOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  char state = 0;
  long ppid = 0;
  if (std::sscanf(stat.c_str() + close + 1, " %c %ld", &state, &ppid) != 2) return 0;
  return static_cast<pid_t>(ppid);
}

std::string commandOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

// Whether the stdout of the nearest launcher ancestor is a terminal. A daemon (orted, prted) on
// a remote node forwards output over the network: no launcher is found above it.
std::optional<bool> launcherOutputIsTerminal() {
  pid_t pid = ::getppid();
  for (int depth = 0; depth < 16 && pid > 1; ++depth, pid = parentOf(pid)) {
    const std::string name = commandOf(pid);
    if (name != "mpiexec" && name != "mpirun" && name != "orterun" && name != "prterun") continue;
    std::error_code ec;
    const std::string target =
        std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/fd/1", ec).string();
    if (ec) return std::nullopt;
    return target.rfind("/dev/pts/", 0) == 0 || target.rfind("/dev/tty", 0) == 0;
  }
  return std::nullopt;
}

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
  env.progress_override = readProgressOverride(get);
  return env;
}

void ProcessEnv::probeTerminal() {
  stdout_is_terminal = ::isatty(STDOUT_FILENO) == 1;
  launcher_output_is_terminal =
      under_mpi_launcher && stdout_is_terminal ? launcherOutputIsTerminal() : std::nullopt;
}

ProgressStyle progressStyleFor(trainer::ProgressSetting setting, const ProcessEnv& env) {
  if (setting == trainer::ProgressSetting::kBar) return ProgressStyle::kBar;
  if (setting == trainer::ProgressSetting::kLines) return ProgressStyle::kLines;
  if (env.progress_override) return *env.progress_override;
  const bool watched = env.stdout_is_terminal && !env.under_slurm &&
                       (!env.under_mpi_launcher || env.launcher_output_is_terminal == true);
  return watched ? ProgressStyle::kBar : ProgressStyle::kLines;
}

}  // namespace agreid::launch
