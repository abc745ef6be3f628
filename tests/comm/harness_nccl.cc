// Harness: NcclCommunicator, one GPU per process (the binary runs under mpiexec -n 1).
#include <ATen/Context.h>
#include <mpi.h>

#include "comm/nccl_communicator.h"
#include "tests/comm/conformance.h"

namespace agreid::comm::testing {
namespace {

class NcclHarness : public Harness {
 public:
  c10::Device device() const override {
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(comm_.device()));
  }
  void run(const std::function<void(Communicator&)>& fn) override { fn(comm_); }

 private:
  NcclCommunicator comm_{MPI_COMM_WORLD};
};

std::string ncclUnavailable() {
  if (NcclCommunicator::visibleDeviceCount() == 0) return "no usable CUDA device on this machine";
  if (!at::hasCUDA()) {
    return "LibTorch was built without CUDA (Debian's CPU build): cannot allocate CUDA tensors";
  }
  return "";
}

}  // namespace

std::vector<HarnessSpec> harnessesOfThisBinary() {
  return {HarnessSpec{"nccl", ncclUnavailable, [] { return std::make_unique<NcclHarness>(); }}};
}

}  // namespace agreid::comm::testing
