#include "trainer/engine/engine.h"

#include <torch/torch.h>

#include <chrono>

#include "base/check.h"
#include "comm/communicator.h"

namespace agreid::trainer {

Engine::Engine(EngineOptions opts, StepFunction step, std::vector<std::unique_ptr<TrainHook>> hooks,
               StopRequest stop, comm::Communicator* comm)
    : opts_(opts),
      step_(std::move(step)),
      hooks_(std::move(hooks)),
      stop_(std::move(stop)),
      comm_(comm) {
  AGREID_CHECK(opts_.steps_per_epoch > 0, "steps_per_epoch must be positive");
  AGREID_CHECK(opts_.max_epochs >= 0, "max_epochs must not be negative");
  AGREID_CHECK(static_cast<bool>(step_), "the engine needs a step function");
}

bool Engine::stopAgreed() {
  const bool local = stop_ && stop_();
  if (comm_ == nullptr || comm_->size() == 1) return local;
  at::Tensor flag = torch::full({1}, local ? 1 : 0, torch::kInt);
  comm_->allReduce(flag, {comm::ReduceOp::kMax})->wait();
  return flag.item<int>() != 0;
}

RunStatus Engine::run(TrainState& state) {
  using Clock = std::chrono::steady_clock;
  state.steps_per_epoch = opts_.steps_per_epoch;
  state.max_epochs = opts_.max_epochs;
  state.stop_requested = false;
  for (auto& h : hooks_) h->beforeTrain(state);
  while (state.epoch < opts_.max_epochs && !state.stop_requested) {
    if (state.batch_in_epoch >= opts_.steps_per_epoch) {  // resumed at the end of an epoch
      ++state.epoch;
      state.batch_in_epoch = 0;
      continue;
    }
    for (auto& h : hooks_) h->beforeEpoch(state);
    while (state.batch_in_epoch < opts_.steps_per_epoch) {
      if (stopAgreed()) {
        state.stop_requested = true;
        break;
      }
      for (auto& h : hooks_) h->beforeStep(state);
      const auto t0 = Clock::now();
      StepResult r = step_(state);
      const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      state.loss = r.loss;
      state.loss_terms = std::move(r.loss_terms);
      state.step_seconds = seconds;
      state.images_per_s = seconds > 0.0 ? static_cast<double>(r.images) / seconds : 0.0;
      ++state.step;
      ++state.batch_in_epoch;
      for (auto& h : hooks_) h->afterStep(state);
    }
    if (state.stop_requested) break;
    for (auto& h : hooks_) h->afterEpoch(state);
    ++state.epoch;
    state.batch_in_epoch = 0;
  }
  for (auto& h : hooks_) h->afterTrain(state);
  return state.stop_requested ? RunStatus::kStopped : RunStatus::kCompleted;
}

}  // namespace agreid::trainer
