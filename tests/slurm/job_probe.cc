// job_probe: a small MPI program that stands in for `agreid run` inside the sbatch scripts, so the
// tests of tests/slurm can check the SLURM machinery (srun --mpi=pmix or mpirun, the USR1 trap,
// exit 75, scontrol requeue, resume) independently of training.
//
//   job_probe run --config STATE_DIR [--set steps=N] [--set step_ms=M] [--set result=none]
//             [--set exit_code=C]
//   job_probe config show --config STATE_DIR ...
//
// (the argument shapes of `agreid run`, which train.sbatch passes on, and of `agreid config show`,
// with which slurm/common.sh finds the results file: `[run] out_dir = 'STATE_DIR'`). Every rank
// joins MPI_COMM_WORLD through comm::MpiSession and checks an all-reduce. Then the ranks count N
// steps of M ms. At every step boundary the stop flag (SIGUSR1/SIGTERM, launch/signals.h) is
// all-reduced (max), so all ranks stop at the same step: rank 0 writes STATE_DIR/checkpoint (the
// next step) and every rank exits 75 (kExitRequeue). A later start resumes from
// STATE_DIR/checkpoint. Rank 0 writes STATE_DIR/progress (the step reached) while counting and
// STATE_DIR/results.json at the end, unless result=none: then the probe exits 0 without a result,
// as a step whose ranks never ran to the end would. exit_code=C: every rank exits with C right
// after the all-reduce.
#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "comm/mpi_communicator.h"
#include "comm/mpi_session.h"
#include "launch/process_env.h"
#include "launch/signals.h"

namespace {

void writeFileAtomically(const std::string& path, const std::string& text) {
  {
    std::ofstream f(path + ".tmp");
    f << text;
  }
  std::rename((path + ".tmp").c_str(), path.c_str());
}

int64_t readInt(const std::string& path, int64_t fallback) {
  std::ifstream f(path);
  int64_t v = fallback;
  if (f >> v) return v;
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string dir;
  int64_t steps = 10, step_ms = 100;
  bool write_result = true;
  int exit_code = -1;
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--config") dir = args[i + 1];
    if (args[i] == "--set") {
      const std::string& kv = args[i + 1];
      if (kv.rfind("steps=", 0) == 0) steps = std::stoll(kv.substr(6));
      if (kv.rfind("step_ms=", 0) == 0) step_ms = std::stoll(kv.substr(8));
      if (kv == "result=none") write_result = false;
      if (kv.rfind("exit_code=", 0) == 0) exit_code = std::stoi(kv.substr(10));
    }
  }
  if (args.size() >= 2 && args[0] == "config" && args[1] == "show") {
    std::cout << "[run]\nout_dir = '" << dir << "'\n";
    return agreid::kExitOk;
  }
  if (args.empty() || args[0] != "run" || dir.empty()) {
    std::cerr << "usage: job_probe run --config STATE_DIR [--set steps=N] [--set step_ms=M] "
                 "[--set result=none] [--set exit_code=C]\n";
    return agreid::kExitInput;
  }
  agreid::launch::installStopHandlers();
  agreid::launch::acceptStopRequests();  // polled at every step below
  const auto env = agreid::launch::ProcessEnv::fromEnvironment();
  agreid::comm::MpiSession mpi;
  agreid::comm::MpiCommunicator comm;
  at::Tensor x = at::full({1}, static_cast<double>(comm.rank() + 1), at::kDouble);
  comm.allReduce(x)->wait();
  const int64_t sum = static_cast<int64_t>(x.item<double>());
  std::printf("job_probe: rank %d/%d (env rank %d/%d, local %d, job %s) all-reduce sum %lld\n",
              comm.rank(), comm.size(), env.rank, env.world_size, env.local_rank,
              env.slurm_job_id.value_or("-").c_str(), static_cast<long long>(sum));
  std::fflush(stdout);
  if (exit_code >= 0) return exit_code;

  const int64_t start = readInt(dir + "/checkpoint", 0);
  for (int64_t step = start; step < steps; ++step) {
    at::Tensor stop = at::full({1}, agreid::launch::stopRequested() ? 1.0 : 0.0, at::kDouble);
    agreid::comm::AllReduceOptions max_op;
    max_op.op = agreid::comm::ReduceOp::kMax;
    comm.allReduce(stop, max_op)->wait();
    if (stop.item<double>() > 0) {
      if (comm.rank() == 0) {
        writeFileAtomically(dir + "/checkpoint", std::to_string(step) + "\n");
        std::printf("job_probe: stop requested: checkpoint at step %lld, exiting 75\n",
                    static_cast<long long>(step));
        std::fflush(stdout);
      }
      comm.barrier();
      return agreid::kExitRequeue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(step_ms));
    if (comm.rank() == 0) writeFileAtomically(dir + "/progress", std::to_string(step + 1) + "\n");
  }
  if (comm.rank() == 0 && write_result) {
    std::ostringstream os;
    os << "world=" << comm.size() << " sum=" << sum << " env_world=" << env.world_size
       << " steps=" << steps << " resumed_from=" << start << "\n";
    writeFileAtomically(dir + "/results.json", os.str());
  }
  return agreid::kExitOk;
}
