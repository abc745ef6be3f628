#include "comm/mpi_communicator.h"
#include "comm/nccl_communicator.h"
#include "launch/communicator_factory.h"

namespace agreid::launch {

std::unique_ptr<comm::Communicator> makeCommunicator(const c10::Device& device) {
  if (device.is_cuda()) return std::make_unique<comm::NcclCommunicator>();
  return std::make_unique<comm::MpiCommunicator>();
}

}  // namespace agreid::launch
