// Helpers of the MPI step benchmarks (ddp_step_bench.cc, pretrain_step_bench.cc): their
// "--name value" command lines and the values they agree on across ranks. Header-only; bench code.
#pragma once

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "trainer/model/clip_model.h"

namespace agreid::bench {

// Reads "--name value" pairs into `ints` (integers) or `strings` (text); every name must already
// be a key of one of them. Prints the offending word and returns false on an unknown or
// incomplete option.
inline bool parseOptions(int argc, char** argv, const char* program,
                         std::map<std::string, int64_t>& ints,
                         std::map<std::string, std::string>& strings) {
  for (int i = 1; i < argc; ++i) {
    const std::string w = argv[i];
    const std::string name = w.rfind("--", 0) == 0 ? w.substr(2) : "";
    if (name.empty() || (!ints.count(name) && !strings.count(name)) || i + 1 >= argc) {
      std::fprintf(stderr, "%s: unknown or incomplete option %s\n", program, argv[i]);
      return false;
    }
    if (ints.count(name)) {
      ints[name] = std::atoll(argv[++i]);
    } else {
      strings[name] = argv[++i];
    }
  }
  return true;
}

// `value` reduced over MPI_COMM_WORLD with `op` (MPI_MAX: the slowest rank's time).
inline double reduceOverRanks(double value, MPI_Op op) {
  double out = 0;
  MPI_Allreduce(&value, &out, 1, MPI_DOUBLE, op, MPI_COMM_WORLD);
  return out;
}

// The image tower of a CLIP from the options "embed", "vision-width", "layers", "heads", "patch",
// "height" and "width" (the text tower keeps ClipArch's defaults).
inline trainer::ClipArch visionArch(std::map<std::string, int64_t>& a) {
  trainer::ClipArch arch;
  arch.embed_dim = a["embed"];
  arch.vision_width = a["vision-width"];
  arch.vision_layers = a["layers"];
  arch.vision_heads = a["heads"];
  arch.patch_size = a["patch"];
  arch.grid_h = a["height"] / a["patch"];
  arch.grid_w = a["width"] / a["patch"];
  return arch;
}

struct StepTimes {
  double first_loss = 0, last_loss = 0;  // of the first and last step
  double mean_ms = 0, min_ms = 0;        // over the timed steps, the slowest rank's each step
  double cpu_ms = 0;  // process CPU time (all threads) per timed step, summed over ranks
};

inline double processCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return 1e3 * static_cast<double>(ts.tv_sec) + 1e-6 * static_cast<double>(ts.tv_nsec);
}

inline double threadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return 1e3 * static_cast<double>(ts.tv_sec) + 1e-6 * static_cast<double>(ts.tv_nsec);
}

// Wall time and the calling thread's CPU time per named phase of a step: mark(name) charges the
// time since the previous mark (or restart()) to `name`; only marks while `counting` is set are
// kept. Not thread-safe.
class PhaseTimer {
 public:
  void restart() {
    last_ = std::chrono::steady_clock::now();
    last_cpu_ = threadCpuMs();
  }
  void mark(const std::string& name) {
    const auto now = std::chrono::steady_clock::now();
    const double cpu = threadCpuMs();
    if (counting) {
      auto it = std::find_if(ms_.begin(), ms_.end(), [&](const auto& p) { return p.name == name; });
      if (it == ms_.end()) it = ms_.insert(ms_.end(), {name, 0.0, 0.0});
      it->wall += std::chrono::duration<double, std::milli>(now - last_).count();
      it->cpu += cpu - last_cpu_;
    }
    last_ = now;
    last_cpu_ = cpu;
  }
  // "<prefix> <phase> <wall ms> <cpu ms>" per step, this rank's, in the order the phases first ran.
  void print(const char* prefix, int64_t steps) const {
    const double n = static_cast<double>(steps);
    for (const auto& p : ms_) {
      std::printf("%s %-24s wall %8.1f ms, thread CPU %8.1f ms\n", prefix, p.name.c_str(),
                  p.wall / n, p.cpu / n);
    }
  }
  bool counting = false;

 private:
  struct Phase {
    std::string name;
    double wall, cpu;
  };
  std::chrono::steady_clock::time_point last_;
  double last_cpu_ = 0;
  std::vector<Phase> ms_;
};

// Runs `step` (returns this rank's loss, its work finished) warmup + steps times, each after a
// barrier; times the last `steps`. The loss is rank 0's, or the mean over ranks when
// `mean_loss`. All ranks call it together.
inline StepTimes timeSteps(int64_t warmup, int64_t steps, const std::function<double()>& step,
                           bool mean_loss) {
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  StepTimes t;
  double total = 0, best = 1e30;
  for (int64_t s = 0; s < warmup + steps; ++s) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double cpu0 = processCpuMs();
    const auto t0 = std::chrono::steady_clock::now();
    double loss = step();
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = processCpuMs() - cpu0;
    if (mean_loss) loss = reduceOverRanks(loss, MPI_SUM) / world;
    if (s == 0) t.first_loss = loss;
    t.last_loss = loss;
    if (s >= warmup) {
      const double step_ms = reduceOverRanks(ms, MPI_MAX);
      total += step_ms;
      best = std::min(best, step_ms);
      t.cpu_ms += reduceOverRanks(cpu, MPI_SUM);
    }
  }
  t.cpu_ms = steps > 0 ? t.cpu_ms / static_cast<double>(steps) : 0;
  t.mean_ms = steps > 0 ? total / static_cast<double>(steps) : 0;
  t.min_ms = best;
  return t;
}

}  // namespace agreid::bench
