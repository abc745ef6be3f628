// Engine: the training loop (style.md lesson 8). It runs `step` for every batch of every epoch
// from the TrainState's position, calls the hooks around it (train_hook.h gives the order), and
// stops early at a step boundary when a stop is requested (SIGUSR1/SIGTERM in launch/): hooks
// then see state.stop_requested in afterTrain (the checkpoint hook saves) and run() returns
// RunStatus::kStopped, which the command turns into kExitRequeue.
//
// Note [Loss window]: the step's loss tensors are summed on their device, with a device-side
// record of the first step at which each term was not finite. The window is read -- one
// all-reduce of the sums and one of the first non-finite steps, then one copy to the host -- only
// after a step for which a hook's needsLoss() is true (metrics every run.log_every steps,
// step-based checkpoints), at the end of every epoch and before afterTrain. state.loss and
// state.loss_terms then hold the window's means over steps and ranks. A non-finite term found by
// a read throws InputError naming the stage, the first such step and the term, before any hook
// sees the step: no checkpoint or final model is written from a diverged model.
//
// With a communicator of several ranks the stop flag is agreed by a 1-element all-reduce (max) at
// every step boundary, so all ranks stop after the same step. All ranks must call run(). The
// Engine owns its hooks; it is not thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "trainer/engine/loss_window.h"
#include "trainer/engine/train_hook.h"
#include "trainer/engine/train_state.h"

namespace agreid::comm {
class Communicator;
}

namespace agreid::trainer {

// What a step reports. The losses are this rank's detached 0-dim tensors on the step's device: the
// engine adds them up there (no host synchronisation per step) and reads the window's mean over
// steps and ranks when a hook needs it (see Note [Loss window]).
struct StepResult {
  at::Tensor loss;                               // total loss
  std::map<std::string, at::Tensor> loss_terms;  // named terms (each checked for finiteness)
  int64_t images = 0;                            // images processed by all ranks in this step
};

// Runs one optimiser step on batch (state.epoch, state.batch_in_epoch). The state is the one
// before the step (state.step steps done).
using StepFunction = std::function<StepResult(const TrainState& state)>;

// True once this process was asked to stop. Polled at step boundaries; must be cheap.
using StopRequest = std::function<bool()>;

enum class RunStatus {
  kCompleted,  // all epochs done
  kStopped,    // stopped on request after a step boundary (exit code 75 for the command)
};

struct EngineOptions {
  int64_t steps_per_epoch = 0;
  int64_t max_epochs = 0;
  int64_t max_steps = 0;  // > 0: training ends after this many steps (within the last epoch)
  std::string name = "training";  // the stage, in the non-finite loss message
};

class Engine {
 public:
  // `comm` (the step's communicator) may be null (one process); otherwise it must outlive the
  // Engine. The stop request is agreed over `control`, a communicator of host tensors (null:
  // `comm`, which then must take host tensors), so that no step waits for the device.
  Engine(EngineOptions opts, StepFunction step, std::vector<std::unique_ptr<TrainHook>> hooks,
         StopRequest stop = {}, comm::Communicator* comm = nullptr,
         comm::Communicator* control = nullptr);

  // All ranks. Trains from `state` (a fresh state, or one restored from a checkpoint) until the
  // last epoch or a stop request; `state` holds the final position.
  RunStatus run(TrainState& state);

 private:
  bool stopAgreed();
  void readLoss(TrainState& state);

  EngineOptions opts_;
  StepFunction step_;
  std::vector<std::unique_ptr<TrainHook>> hooks_;
  StopRequest stop_;
  comm::Communicator* comm_;
  comm::Communicator* control_;
  LossWindow window_;
  std::chrono::steady_clock::time_point window_start_;
};

}  // namespace agreid::trainer
