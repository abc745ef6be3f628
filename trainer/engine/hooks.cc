#include "trainer/engine/hooks.h"

namespace agreid::trainer {

CheckpointHook::CheckpointHook(CheckpointHookOptions opts, Checkpointer& checkpointer,
                               std::function<CheckpointContents()> contents)
    : opts_(opts), checkpointer_(checkpointer), contents_(std::move(contents)) {}

void CheckpointHook::save(const TrainState& state) {
  if (state.step == last_saved_step_) return;
  last_path_ = checkpointer_.save(state, contents_());
  last_saved_step_ = state.step;
}

void CheckpointHook::afterStep(TrainState& state) {
  if (opts_.every_steps > 0 && state.step % opts_.every_steps == 0) save(state);
}

bool CheckpointHook::needsLoss(const TrainState& state) const {
  return opts_.every_steps > 0 && state.step % opts_.every_steps == 0;
}

void CheckpointHook::afterEpoch(TrainState& state) {
  if (opts_.every_steps <= 0) save(state);
}

void CheckpointHook::afterTrain(TrainState& state) { save(state); }

EvalHook::EvalHook(EvalHookOptions opts, std::function<void(const TrainState&)> evaluate)
    : opts_(opts), evaluate_(std::move(evaluate)) {}

void EvalHook::afterEpoch(TrainState& state) {
  if (opts_.every_epochs > 0 && (state.epoch + 1) % opts_.every_epochs == 0) {
    evaluate_(state);
    last_evaluated_step_ = state.step;
  }
}

void EvalHook::afterTrain(TrainState& state) {
  if (state.stop_requested || state.step == last_evaluated_step_) return;
  evaluate_(state);
  last_evaluated_step_ = state.step;
}

}  // namespace agreid::trainer
