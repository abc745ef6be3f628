// What every pipeline stage receives from launch/: the communicator of the job, the rank-aware
// log, the device, the seed, and the stop request (SIGUSR1/SIGTERM) to poll at step boundaries.
#pragma once

#include <c10/core/Device.h>

#include <functional>

#include "base/log.h"

namespace agreid::comm {
class Communicator;
}

namespace agreid::trainer {

struct StageContext {
  comm::Communicator& comm;  // the job's communicator, for tensors on `device`
  const Log& log;
  c10::Device device = c10::Device(c10::kCPU);
  std::function<bool()> stop_requested = [] { return false; };
  // A communicator of host tensors over the same ranks, for control values (the stop agreement,
  // batch sizes, checkpoint status) that must not make a step wait for the device; null when
  // `comm` takes host tensors itself (CPU jobs).
  comm::Communicator* control = nullptr;

  comm::Communicator& hostComm() const { return control != nullptr ? *control : comm; }
};

}  // namespace agreid::trainer
