// Harness: MpiCommunicator; the binary runs under mpiexec -n 1, 2 and 4 and
// every process is one rank.
#include <mpi.h>

#include "comm/mpi_communicator.h"
#include "tests/comm/conformance.h"

namespace agreid::comm::testing {
namespace {

class MpiHarness : public Harness {
 public:
  c10::Device device() const override { return c10::Device(c10::kCPU); }
  void run(const std::function<void(Communicator&)>& fn) override { fn(comm_); }

 private:
  MpiCommunicator comm_{MPI_COMM_WORLD};
};

}  // namespace

std::vector<HarnessSpec> harnessesOfThisBinary() {
  return {HarnessSpec{"mpi", nullptr, [] { return std::make_unique<MpiHarness>(); }}};
}
}  // namespace agreid::comm::testing
