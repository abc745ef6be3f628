// Counts the operations inside the Engine's steps (its "agreid::step" profiler scopes) that read
// tensor values back to the host: .item() (aten::_local_scalar_dense) and blocking copies to the
// CPU (aten::to with a CPU target and non_blocking = false). On a GPU each of them is a
// device-to-host copy that makes the host wait for every kernel queued before it. In a CPU run a
// blocking copy *to* the device looks the same, so training steps move their batches with
// non_blocking = true. Reads through a raw data_ptr() are not seen: steps use them only on
// tensors that live in host memory by construction.
//
// Counts the calling thread (the one that runs the Engine) from construction to destruction.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace agreid::testing {

class DeviceReadCounter {
 public:
  DeviceReadCounter();
  ~DeviceReadCounter();
  DeviceReadCounter(const DeviceReadCounter&) = delete;
  DeviceReadCounter& operator=(const DeviceReadCounter&) = delete;

  int64_t steps() const;
  int64_t readsInSteps() const;
  // The first few reads, each as "step N: OPERATOR".
  std::vector<std::string> examples() const;
};

}  // namespace agreid::testing
