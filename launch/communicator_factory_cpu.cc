#include "base/error.h"
#include "comm/mpi_communicator.h"
#include "launch/communicator_factory.h"

namespace agreid::launch {

std::unique_ptr<comm::Communicator> makeCommunicator(const c10::Device& device) {
  if (device.is_cuda()) {
    throw InputError(
        "run.device resolves to CUDA, but this agreid was built without the NCCL communicator; "
        "set run.device = \"cpu\" or build for CUDA (docs/gpu.md)");
  }
  return std::make_unique<comm::MpiCommunicator>();
}

}  // namespace agreid::launch
