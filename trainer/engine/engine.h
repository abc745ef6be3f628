// Engine: the training loop (style.md lesson 8). It runs `step` for every batch of every epoch
// from the TrainState's position, calls the hooks around it (train_hook.h gives the order), and
// stops early at a step boundary when a stop is requested (SIGUSR1/SIGTERM in launch/): hooks
// then see state.stop_requested in afterTrain (the checkpoint hook saves) and run() returns
// RunStatus::kStopped, which the command turns into kExitRequeue.
//
// With a communicator of several ranks the stop flag is agreed by a 1-element all-reduce (max) at
// every step boundary, so all ranks stop after the same step. All ranks must call run(). The
// Engine owns its hooks; it is not thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "trainer/engine/train_hook.h"
#include "trainer/engine/train_state.h"

namespace agreid::comm {
class Communicator;
}

namespace agreid::trainer {

struct StepResult {
  double loss = 0.0;                         // total loss (global mean, for logging)
  std::map<std::string, double> loss_terms;  // named terms
  int64_t images = 0;                        // images processed by all ranks in this step
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
};

class Engine {
 public:
  // `comm` may be null (one process); otherwise it must outlive the Engine.
  Engine(EngineOptions opts, StepFunction step, std::vector<std::unique_ptr<TrainHook>> hooks,
         StopRequest stop = {}, comm::Communicator* comm = nullptr);

  // All ranks. Trains from `state` (a fresh state, or one restored from a checkpoint) until the
  // last epoch or a stop request; `state` holds the final position.
  RunStatus run(TrainState& state);

 private:
  bool stopAgreed();

  EngineOptions opts_;
  StepFunction step_;
  std::vector<std::unique_ptr<TrainHook>> hooks_;
  StopRequest stop_;
  comm::Communicator* comm_;
};

}  // namespace agreid::trainer
