// The Communicator conformance suite (conformance_test.cc) and the reducer and all-gather tests run
// against every implementation through a Harness: one backend at one world size. Each test binary
// links one harness file (harness_thread.cc, harness_mpi.cc, harness_nccl.cc) that defines
// harnessesOfThisBinary(); the test files instantiate their suites over it.
#pragma once

#include <ATen/core/Tensor.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "comm/communicator.h"

namespace agreid::comm::testing {

class Harness {
 public:
  virtual ~Harness() = default;
  // Tensors for the backend live here (CPU or CUDA).
  virtual c10::Device device() const = 0;
  // Runs fn once per rank: on N threads (thread backend) or once in this process (one process
  // per rank, under mpiexec).
  virtual void run(const std::function<void(Communicator&)>& fn) = 0;
};

struct HarnessSpec {
  std::string name;
  // Returns "" when the backend can run here, else why the test is skipped.
  std::function<std::string()> unavailable;
  std::function<std::unique_ptr<Harness>()> make;
};

inline std::ostream& operator<<(std::ostream& os, const HarnessSpec& spec) {
  return os << spec.name;
}

// Defined by the harness file linked into the binary.
std::vector<HarnessSpec> harnessesOfThisBinary();

// Fixture of every suite that runs on the harnesses.
class ConformanceTest : public ::testing::TestWithParam<HarnessSpec> {
 protected:
  void SetUp() override {
    const std::string reason = GetParam().unavailable ? GetParam().unavailable() : "";
    if (!reason.empty()) GTEST_SKIP() << reason;
    harness_ = GetParam().make();
  }
  std::unique_ptr<Harness> harness_;
};

inline std::string harnessName(const ::testing::TestParamInfo<HarnessSpec>& info) {
  return info.param.name;
}

}  // namespace agreid::comm::testing
