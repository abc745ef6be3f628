// allreduce_bench: bus bandwidth of Communicator::allReduce (MpiCommunicator, float32, sum, its
// default communication-thread path) against raw MPI_Allreduce on the same buffer, 4 KiB to
// 256 MiB in x4 steps; also the Communicator without the thread (reduce_on_thread = false) and the
// raw MPI_Iallreduce + MPI_Wait that path is built on. Prints a Markdown table. Run: mpiexec -n 2
// --oversubscribe build/bench/allreduce_bench [--max-mib N]
//
// busbw = 2 (n-1)/n * bytes / time (the nccl-tests convention); time is the slowest rank's mean
// per call. Each size runs the two variants alternately in rounds so that drift in the machine's
// load affects both alike.
#include <ATen/ATen.h>
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "comm/mpi_communicator.h"
#include "comm/mpi_session.h"

namespace {

using Clock = std::chrono::steady_clock;

double slowest(double seconds) {
  double max = 0;
  MPI_Allreduce(&seconds, &max, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return max;
}

// Mean seconds per call of `iters` calls of fn, the slowest rank's.
template <typename Fn>
double timeCalls(int iters, Fn&& fn) {
  MPI_Barrier(MPI_COMM_WORLD);
  const auto start = Clock::now();
  for (int i = 0; i < iters; ++i) fn();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return slowest(seconds) / iters;
}

std::string formatBytes(int64_t bytes) {
  char text[32];
  if (bytes >= (int64_t{1} << 20)) {
    std::snprintf(text, sizeof(text), "%lld MiB", static_cast<long long>(bytes >> 20));
  } else {
    std::snprintf(text, sizeof(text), "%lld KiB", static_cast<long long>(bytes >> 10));
  }
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t max_mib = 256;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--max-mib") == 0) max_mib = std::atoll(argv[i + 1]);
  agreid::comm::MpiSession session;
  agreid::comm::MpiCommunicator comm;
  agreid::comm::MpiCommunicatorOptions inline_opts;
  inline_opts.reduce_on_thread = false;
  agreid::comm::MpiCommunicator inline_comm(MPI_COMM_WORLD, inline_opts);
  if (!comm.reducesOnThread() && comm.rank() == 0)
    std::printf("note: MPI does not provide MPI_THREAD_MULTIPLE; no communication thread\n");
  const int n = comm.size();
  const double factor = 2.0 * (n - 1) / n;
  if (comm.rank() == 0) {
    std::printf(
        "| size | calls | MPI_Allreduce busbw (GB/s) | Communicator::allReduce busbw (GB/s) | "
        "ratio Communicator / MPI_Allreduce | Communicator, no thread (GB/s) | "
        "MPI_Iallreduce+MPI_Wait (GB/s) |\n");
    std::printf("|---:|---:|---:|---:|---:|---:|---:|\n");
  }
  for (int64_t bytes = 4 << 10; bytes <= (max_mib << 20); bytes *= 4) {
    const int64_t numel = bytes / 4;
    at::Tensor t = at::ones({numel}, at::kFloat);
    float* data = t.data_ptr<float>();
    auto raw = [&] {
      MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(numel), MPI_FLOAT, MPI_SUM,
                    comm.mpiComm());
    };
    auto raw_nonblocking = [&] {
      MPI_Request request;
      MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(numel), MPI_FLOAT, MPI_SUM,
                     comm.mpiComm(), &request);
      MPI_Wait(&request, MPI_STATUS_IGNORE);
    };
    auto ours = [&] { comm.allReduce(t)->wait(); };
    auto ours_inline = [&] { inline_comm.allReduce(t)->wait(); };
    // Warm up both, then size the rounds to about 0.25 s per variant per round.
    raw();
    ours();
    const double probe = timeCalls(3, raw);
    const int iters = static_cast<int>(std::clamp(0.25 / std::max(probe, 1e-9), 3.0, 2000.0));
    double raw_s = 0, nonblocking_s = 0, ours_s = 0, inline_s = 0;
    constexpr int kRounds = 3;
    for (int round = 0; round < kRounds; ++round) {
      raw_s += timeCalls(iters, raw);
      nonblocking_s += timeCalls(iters, raw_nonblocking);
      ours_s += timeCalls(iters, ours);
      inline_s += timeCalls(iters, ours_inline);
    }
    raw_s /= kRounds;
    nonblocking_s /= kRounds;
    ours_s /= kRounds;
    inline_s /= kRounds;
    const double raw_bw = factor * bytes / raw_s / 1e9;
    const double nonblocking_bw = factor * bytes / nonblocking_s / 1e9;
    const double ours_bw = factor * bytes / ours_s / 1e9;
    const double inline_bw = factor * bytes / inline_s / 1e9;
    if (comm.rank() == 0) {
      std::printf("| %s | %d | %.3f | %.3f | %.2f | %.3f | %.3f |\n", formatBytes(bytes).c_str(),
                  iters * kRounds, raw_bw, ours_bw, ours_bw / raw_bw, inline_bw, nonblocking_bw);
      std::fflush(stdout);
    }
  }
  return 0;
}
