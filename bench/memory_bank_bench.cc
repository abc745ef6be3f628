// Contrastive memory bank: per-rank memory and step time of the sharded bank (rank r holds N/W
// rows; distributed softmax) against a replicated bank (every rank holds and updates all N rows,
// the usual non-sharded implementation), measured in the same run, for N = 1e4, 1e5, 1e6
// identities x 512 dims and a global batch of 64.
//
// usage: mpiexec -n 2 memory_bank_bench [--steps 10] [--sizes 10000,100000,1000000]
// A step is forward (loss, feature gradient, momentum update) + backward of the returned loss.
#include <mpi.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "comm/mpi_communicator.h"
#include "comm/mpi_session.h"
#include "trainer/memory/memory_bank.h"

namespace {

using agreid::trainer::ContrastiveMemoryBank;
using agreid::trainer::MemoryBankOptions;
using agreid::trainer::MemoryLayout;

constexpr int64_t kDim = 512;
constexpr int64_t kGlobalBatch = 64;

// Resident set size of this process in MiB (/proc/self/status VmRSS).
double rssMiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0.0;
}

struct Measurement {
  double bank_mib = 0;        // the bank tensor on this rank
  double rss_growth_mib = 0;  // VmRSS after the timed steps minus before building the bank
  double ms_per_step = 0;     // mean over the timed steps
};

Measurement measure(agreid::comm::Communicator& comm, int64_t n, MemoryLayout layout, int steps) {
  const double rss0 = rssMiB();
  MemoryBankOptions opts;
  opts.num_identities = n;
  opts.dim = kDim;
  opts.layout = layout;
  ContrastiveMemoryBank bank(opts, comm);
  bank.initializeRandom(7);
  const int64_t b = kGlobalBatch / comm.size();
  torch::manual_seed(1 + comm.rank());
  auto runStep = [&](int i) {
    at::Tensor f =
        torch::nn::functional::normalize(torch::randn({b, kDim}),
                                         torch::nn::functional::NormalizeFuncOptions().dim(1))
            .requires_grad_(true);
    (void)i;
    at::Tensor y = torch::randint(n, {b}, torch::kLong);
    bank.forward(f, y).loss.backward();
  };
  for (int i = 0; i < 2; ++i) runStep(i);  // warm-up
  comm.barrier();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) runStep(i);
  comm.barrier();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Measurement m;
  m.bank_mib = static_cast<double>(bank.shard().nbytes()) / (1024.0 * 1024.0);
  m.rss_growth_mib = rssMiB() - rss0;
  m.ms_per_step = 1000.0 * seconds / steps;
  return m;
}

double maxOverRanks(agreid::comm::Communicator& comm, double v) {
  at::Tensor t = torch::full({1}, v, torch::kDouble);
  comm.allReduce(t, {agreid::comm::ReduceOp::kMax})->wait();
  return t.item<double>();
}

}  // namespace

int main(int argc, char** argv) {
  agreid::comm::MpiSession session;
  int steps = 10;
  std::vector<int64_t> sizes = {10000, 100000, 1000000};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--steps") == 0) steps = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--sizes") == 0) {
      sizes.clear();
      std::stringstream ss(argv[i + 1]);
      for (std::string item; std::getline(ss, item, ',');) sizes.push_back(std::stoll(item));
    }
  }
  torch::set_num_threads(1);
  agreid::comm::MpiCommunicator comm;
  if (comm.rank() == 0) {
    std::printf("memory bank: %d ranks, D=%lld, global batch %lld, %d timed steps, 1 thread/rank\n",
                comm.size(), static_cast<long long>(kDim), static_cast<long long>(kGlobalBatch),
                steps);
    std::printf("%-10s %-11s %14s %16s %12s\n", "N", "layout", "bank MiB/rank", "RSS growth MiB",
                "ms/step");
  }
  for (int64_t n : sizes) {
    double sharded_ms = 0;
    for (MemoryLayout layout : {MemoryLayout::kSharded, MemoryLayout::kReplicated}) {
      const Measurement m = measure(comm, n, layout, steps);
      const double bank = maxOverRanks(comm, m.bank_mib);
      const double rss = maxOverRanks(comm, m.rss_growth_mib);
      const double ms = maxOverRanks(comm, m.ms_per_step);
      const bool sharded = layout == MemoryLayout::kSharded;
      if (sharded) sharded_ms = ms;
      if (comm.rank() == 0) {
        std::printf("%-10lld %-11s %14.1f %16.1f %12.2f", static_cast<long long>(n),
                    sharded ? "sharded" : "replicated", bank, rss, ms);
        if (!sharded) std::printf("   (sharded/replicated time %.2fx)", sharded_ms / ms);
        std::printf("\n");
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
