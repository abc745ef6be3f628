// TrainHook: a piece of the training loop outside the step itself (fast-reid's HookBase with
// explicit state, style.md lesson 8). Hooks get their dependencies through their constructors and
// never see the Engine; they may modify the TrainState (e.g. the lr they set).
//
// Order of calls (Engine::run):
//   beforeTrain
//   per epoch from state.epoch: beforeEpoch (also for a resumed partial epoch, batch_in_epoch > 0)
//     per step: beforeStep, the step, afterStep
//   afterEpoch (only for a completed epoch)
//   afterTrain (also after a stop request; state.stop_requested tells)
// state.loss / loss_terms are the means of the steps since the previous read: fresh in afterStep
// when some hook's needsLoss() said so, in afterEpoch and in afterTrain.
// Hooks run in the order given to the Engine. beforeStep must be cheap. All ranks run all hooks
// (hooks that communicate -- checkpoints -- rely on it); hooks that write files do so on rank 0.
#pragma once

#include "trainer/engine/train_state.h"

namespace agreid::trainer {

class TrainHook {
 public:
  virtual ~TrainHook() = default;
  virtual void beforeTrain(TrainState&) {}
  virtual void beforeEpoch(TrainState&) {}
  virtual void beforeStep(TrainState&) {}
  virtual void afterStep(TrainState&) {}
  virtual void afterEpoch(TrainState&) {}
  virtual void afterTrain(TrainState&) {}
  // True when afterStep needs state.loss and state.loss_terms of this step's window (the engine
  // then reads the loss window first; see Note [Loss window] in engine.h). Must be cheap.
  virtual bool needsLoss(const TrainState&) const { return false; }
};

}  // namespace agreid::trainer
