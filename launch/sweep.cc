#include "launch/sweep.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/check.h"
#include "base/error.h"
#include "launch/config.h"
#include "launch/signals.h"
#include "trainer/util/atomic_file.h"

extern char** environ;

namespace agreid::launch {
namespace {

namespace fs = std::filesystem;

std::string runsTsv(const std::vector<SweepPoint>& points) {
  std::string out = "# index\tout_dir\toverrides (section.key=value, one per column)\n";
  for (const auto& p : points) {
    out += std::to_string(p.index) + "\t" + p.out_dir;
    for (const auto& s : p.sets) {
      AGREID_CHECK(s.find_first_of("\t\n") == std::string::npos, "override with a tab: ", s);
      out += "\t" + s;
    }
    out += "\n";
  }
  return out;
}

std::string sweepInfo(const SweepSpec& spec, const std::vector<SweepPoint>& points) {
  std::ostringstream os;
  os << "# Written by agreid sweep; read by agreid sweep collect.\n"
     << "name = " << tomlBasicString(spec.name) << "\n"
     << "spec = " << tomlBasicString(fs::absolute(spec.path).lexically_normal().string()) << "\n"
     << "metric = " << tomlBasicString(spec.metric) << "\n"
     << "mode = " << tomlBasicString(spec.mode) << "\n"
     << "points = " << points.size() << "\n"
     << "keys = [";
  bool first = true;
  for (const auto& [k, v] : points.front().params) {
    os << (first ? "" : ", ") << tomlBasicString(k);
    first = false;
  }
  os << "]\n";
  return os.str();
}

struct Spawned {
  int exit_code = -1;
  std::string output;  // stdout + stderr when captured
};

// Runs argv[0] (searched on PATH) with `extra_env` added to the environment. With `log_path`
// empty, stdout and stderr are captured; otherwise they are appended to that file. Returns
// exit_code -1 when the program could not be started.
Spawned spawnAndWait(const std::vector<std::string>& argv,
                     const std::vector<std::string>& extra_env, const std::string& log_path) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    bool replaced = false;
    for (const auto& x : extra_env) {
      const std::string name = x.substr(0, x.find('=') + 1);
      replaced = replaced || std::strncmp(*e, name.c_str(), name.size()) == 0;
    }
    if (!replaced) env_strings.emplace_back(*e);
  }
  env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  int pipe_fds[2] = {-1, -1};
  if (log_path.empty()) {
    AGREID_CHECK(::pipe(pipe_fds) == 0, "pipe: ", std::strerror(errno));
    posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&actions, pipe_fds[1]);
  } else {
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  }
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  Spawned out;
  if (pipe_fds[1] >= 0) ::close(pipe_fds[1]);
  if (rc != 0) {
    if (pipe_fds[0] >= 0) ::close(pipe_fds[0]);
    out.output = std::strerror(rc);
    return out;
  }
  if (pipe_fds[0] >= 0) {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(pipe_fds[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
      if (n > 0) out.output.append(buf, static_cast<size_t>(n));
    }
    ::close(pipe_fds[0]);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return out;
}

std::string firstLine(const std::string& s) {
  std::string line = s.substr(0, s.find('\n'));
  return line.empty() ? "(no output)" : line;
}

}  // namespace

bool programExists(const std::string& program) {
  if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

void writeSweepFolder(const SweepSpec& spec, const std::vector<SweepPoint>& points) {
  AGREID_CHECK(!points.empty());
  const std::string runs = runsTsv(points);
  const std::string runs_path = spec.dir + "/runs.tsv";
  std::error_code ec;
  if (fs::exists(runs_path, ec)) {
    if (trainer::readFileText(runs_path) != runs) {
      throw InputError(spec.dir +
                       ": already holds a different sweep (runs.tsv); remove it or "
                       "choose another sweep.dir / --dir");
    }
  }
  for (const char* sub : {"", "/logs", "/status", "/runs"}) {
    fs::create_directories(spec.dir + sub, ec);
    if (ec) throw InputError(spec.dir + sub + ": cannot create folder: " + ec.message());
  }
  Config base = loadConfig({spec.base_config, spec.sets});
  trainer::writeFileAtomically(
      spec.dir + "/base.toml",
      "# Base configuration of sweep " + spec.name + " (" +
          (spec.base_config.empty() ? std::string("defaults") : spec.base_config) +
          " + [sweep] set), resolved by agreid sweep.\n" + configToToml(base));
  trainer::writeFileAtomically(spec.dir + "/spec.toml", trainer::readFileText(spec.path));
  trainer::writeFileAtomically(spec.dir + "/sweep.toml", sweepInfo(spec, points));
  trainer::writeFileAtomically(runs_path, runs);  // last: its presence marks a complete folder
}

std::string submitSweep(const SweepSpec& spec, const std::vector<SweepPoint>& points,
                        const SubmitOptions& options) {
  std::vector<std::string> argv = {
      options.sbatch,
      "--parsable",
      "--array=0-" + std::to_string(points.size() - 1) + "%" + std::to_string(spec.max_parallel),
      "--job-name=agreid-sweep-" + spec.name,
      "--output=" + spec.dir + "/logs/%A_%a.out",
  };
  argv.insert(argv.end(), spec.sbatch.begin(), spec.sbatch.end());
  argv.push_back(options.script);
  argv.push_back(spec.dir);
  const std::string root = fs::path(options.script).parent_path().parent_path().string();
  const Spawned r =
      spawnAndWait(argv, {"AGREID_BIN=" + options.agreid_binary, "AGREID_ROOT=" + root}, "");
  if (r.exit_code != 0) {
    throw InputError(spec.path + ": sbatch failed (exit " + std::to_string(r.exit_code) +
                     "): " + firstLine(r.output));
  }
  // --parsable prints "jobid[;cluster]"; warnings may come first.
  std::istringstream lines(r.output);
  std::string line, job;
  while (std::getline(lines, line)) {
    const std::string id = line.substr(0, line.find(';'));
    if (!id.empty() && id.find_first_not_of("0123456789") == std::string::npos) job = id;
  }
  if (job.empty()) {
    throw InputError(spec.path + ": sbatch printed no job id: " + firstLine(r.output));
  }
  trainer::writeFileAtomically(spec.dir + "/job_id", job + "\n");
  return job;
}

int runSweepLocal(const SweepSpec& spec, const std::vector<SweepPoint>& points,
                  const LocalOptions& options, const Log& log) {
  acceptStopRequests();  // a stop leaves the remaining points for a later --local
  int first_failure = 0;
  for (const auto& p : points) {
    if (stopRequested()) {
      log.info("stop requested: leaving points ", p.index, "..", points.size() - 1,
               " for a later --local");
      return kExitRequeue;
    }
    const std::string idx = std::to_string(p.index);
    const std::string status_path = spec.dir + "/status/" + idx;
    std::error_code ec;
    if (trainer::readFileText(status_path) == "0\n" &&
        fs::exists(p.out_dir + "/results.json", ec)) {
      log.info("point ", idx, " (", p.index + 1, " of ", points.size(), "): done before, skipped");
      continue;
    }
    std::vector<std::string> argv;
    if (options.ranks > 1) {
      argv = {options.mpiexec, "-n", std::to_string(options.ranks), "--oversubscribe"};
    }
    for (const std::string& w : {options.agreid_binary, std::string("run"), std::string("--config"),
                                 spec.dir + "/base.toml"}) {
      argv.push_back(w);
    }
    for (const auto& s : p.sets) {
      argv.push_back("--set");
      argv.push_back(s);
    }
    const std::string log_path = spec.dir + "/logs/local_" + idx + ".out";
    trainer::writeFileAtomically(status_path, "running\n");
    const auto t0 = std::chrono::steady_clock::now();
    const Spawned r = spawnAndWait(argv, {}, log_path);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r.exit_code < 0) {
      throw InputError(options.agreid_binary + ": cannot start: " + r.output);
    }
    trainer::writeFileAtomically(status_path, std::to_string(r.exit_code) + "\n");
    if (r.exit_code == 0) {
      log.info("point ", idx, " (", p.index + 1, " of ", points.size(), "): ok (",
               static_cast<int64_t>(secs), " s)");
    } else {
      log.warn("point ", idx, " (", p.index + 1, " of ", points.size(), "): failed with exit code ",
               r.exit_code, "; log: ", log_path);
      if (first_failure == 0) first_failure = r.exit_code;
    }
  }
  return first_failure;
}

}  // namespace agreid::launch
