// Job: what a distributed command needs once MPI is up -- the communicator for the chosen device
// (MPI for CPU tensors, NCCL for CUDA tensors; on CUDA also an MPI communicator for host control
// values, so that agreeing on a stop never waits for the device), the device itself, intra-op
// threads, and the StageContext handed to the trainer's stages (with the SIGUSR1/SIGTERM stop
// request). It also applies run.progress to the command's Log.
#pragma once

#include <memory>

#include "comm/communicator.h"
#include "launch/cli.h"
#include "launch/config.h"
#include "trainer/stages/stage_context.h"

namespace agreid::launch {

class Job {
 public:
  // Requires ctx.mpi (the command has uses_mpi). Collective over MPI_COMM_WORLD.
  Job(CommandContext& ctx, const Config& config);

  comm::Communicator& comm() { return *comm_; }
  trainer::StageContext& stage() { return stage_; }
  c10::Device device() const { return stage_.device; }

 private:
  c10::Device device_;
  std::unique_ptr<comm::Communicator> comm_;
  std::unique_ptr<comm::Communicator> control_;  // null when comm_ takes host tensors
  trainer::StageContext stage_;
};

// run.tf32 on a CUDA device: TF32 for cuBLAS matrix products and cuDNN convolutions (LibTorch's
// global math mode). Nothing on the CPU, where TF32 does not exist.
void applyMathMode(const Config& config, c10::Device device);

}  // namespace agreid::launch
