// Standard hooks: checkpointing and periodic evaluation. (Learning-rate schedules live in
// lr_schedule.h, metrics in metrics_hook.h.) All ranks run them; see train_hook.h.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "trainer/engine/checkpointer.h"
#include "trainer/engine/train_hook.h"

namespace agreid::trainer {

struct CheckpointHookOptions {
  int64_t every_steps = 0;  // > 0: every N steps; 0: after every epoch
};

// Saves a checkpoint every N steps or after every epoch, and in afterTrain -- at the end, or on a
// stop request -- unless the current step was just saved. `contents` is called on every rank
// before each save (it may communicate, e.g. to gather the memory bank). The Checkpointer must
// outlive the hook.
class CheckpointHook : public TrainHook {
 public:
  CheckpointHook(CheckpointHookOptions opts, Checkpointer& checkpointer,
                 std::function<CheckpointContents()> contents);
  void afterStep(TrainState& state) override;
  void afterEpoch(TrainState& state) override;
  void afterTrain(TrainState& state) override;
  bool needsLoss(const TrainState& state) const override;

  // Path of the last checkpoint written ("" if none).
  const std::string& lastPath() const { return last_path_; }

 private:
  void save(const TrainState& state);
  CheckpointHookOptions opts_;
  Checkpointer& checkpointer_;
  std::function<CheckpointContents()> contents_;
  int64_t last_saved_step_ = -1;
  std::string last_path_;
};

struct EvalHookOptions {
  int64_t every_epochs = 0;  // > 0: after every N-th epoch; 0: only at the end
};

// Calls `evaluate` after every N-th epoch and at the end of training (not after a stop request,
// and not twice for the last epoch). `evaluate` runs on every rank.
class EvalHook : public TrainHook {
 public:
  EvalHook(EvalHookOptions opts, std::function<void(const TrainState&)> evaluate);
  void afterEpoch(TrainState& state) override;
  void afterTrain(TrainState& state) override;

 private:
  EvalHookOptions opts_;
  std::function<void(const TrainState&)> evaluate_;
  int64_t last_evaluated_step_ = -1;
};

}  // namespace agreid::trainer
