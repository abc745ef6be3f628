#include "launch/job.h"

#include <ATen/Context.h>

#include "base/check.h"
#include "base/error.h"
#include "comm/mpi_communicator.h"
#include "comm/mpi_session.h"
#include "launch/communicator_factory.h"
#include "launch/signals.h"
#include "trainer/device.h"

namespace agreid::launch {
namespace {

c10::Device jobDevice(CommandContext& ctx, const Config& config) {
  AGREID_CHECK(ctx.mpi != nullptr, "Job needs an MPI session");
  trainer::configureThreads(config.run.threads, ctx.mpi->localSize());
  const c10::Device device = trainer::chooseDevice(config.run.device, ctx.mpi->localRank());
  applyMathMode(config, device);
  return device;
}

}  // namespace

Job::Job(CommandContext& ctx, const Config& config)
    : device_(jobDevice(ctx, config)),
      comm_(makeCommunicator(device_)),
      control_(device_.is_cpu() ? nullptr : std::make_unique<comm::MpiCommunicator>()),
      stage_{*comm_, ctx.log, device_, [] { return stopRequested(); }, control_.get()} {
  ctx.log.setProgressStyle(progressStyleFor(config.run.progress, ctx.env));
  acceptStopRequests();  // the stages poll the flag at step boundaries
}

void applyMathMode(const Config& config, c10::Device device) {
  if (!device.is_cuda()) return;
  at::globalContext().setAllowTF32CuBLAS(config.run.tf32);
  at::globalContext().setAllowTF32CuDNN(config.run.tf32);
}

}  // namespace agreid::launch
