// Harnesses: ThreadCommunicator at world sizes 1, 2 and 4.
#include "comm/thread_communicator.h"
#include "tests/comm/conformance.h"

namespace agreid::comm::testing {
namespace {

class ThreadHarness : public Harness {
 public:
  explicit ThreadHarness(int num_ranks) : num_ranks_(num_ranks) {}
  c10::Device device() const override { return c10::Device(c10::kCPU); }
  void run(const std::function<void(Communicator&)>& fn) override { runRanks(num_ranks_, fn); }

 private:
  int num_ranks_;
};

HarnessSpec threadSpec(int n) {
  return {"thread" + std::to_string(n), nullptr,
          [n] { return std::make_unique<ThreadHarness>(n); }};
}

}  // namespace

std::vector<HarnessSpec> harnessesOfThisBinary() {
  return {threadSpec(1), threadSpec(2), threadSpec(4)};
}
}  // namespace agreid::comm::testing
