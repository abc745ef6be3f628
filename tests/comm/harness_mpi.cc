// Harness: MpiCommunicator; the binary runs under mpiexec -n 1, 2 and 4 and
// every process is one rank.
#include <mpi.h>

#include "comm/mpi_communicator.h"
#include "tests/comm/conformance.h"

namespace agreid::comm::testing {
namespace {

// reduce_on_thread selects the all-reduce path: blocking MPI_Allreduce on the communication
// thread (the default) or MPI_Iallreduce on the caller's thread.
class MpiHarness : public Harness {
 public:
  explicit MpiHarness(bool reduce_on_thread)
      : comm_(MPI_COMM_WORLD, MpiCommunicatorOptions{reduce_on_thread}) {}
  c10::Device device() const override { return c10::Device(c10::kCPU); }
  void run(const std::function<void(Communicator&)>& fn) override { fn(comm_); }

 private:
  MpiCommunicator comm_;
};

}  // namespace

std::vector<HarnessSpec> harnessesOfThisBinary() {
  return {
      HarnessSpec{"mpi", nullptr, [] { return std::make_unique<MpiHarness>(true); }},
      HarnessSpec{"mpi_no_thread", nullptr, [] { return std::make_unique<MpiHarness>(false); }}};
}
}  // namespace agreid::comm::testing
