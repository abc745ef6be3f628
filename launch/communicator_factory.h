// The communicator for a device: MpiCommunicator for CPU ranks, NcclCommunicator for CUDA ranks.
// Which implementation file is compiled depends on whether the NCCL communicator is built
// (AGREID_HAVE_NCCL in CMake): communicator_factory_nccl.cc or communicator_factory_cpu.cc.
#pragma once

#include <c10/core/Device.h>

#include <memory>

#include "comm/communicator.h"

namespace agreid::launch {

// Collective over MPI_COMM_WORLD. Throws InputError for CUDA without the NCCL communicator.
std::unique_ptr<comm::Communicator> makeCommunicator(const c10::Device& device);

}  // namespace agreid::launch
