#include "trainer/engine/engine.h"

#include <ATen/record_function.h>
#include <torch/torch.h>

#include <chrono>

#include "base/check.h"
#include "base/error.h"
#include "comm/communicator.h"

namespace agreid::trainer {

Engine::Engine(EngineOptions opts, StepFunction step, std::vector<std::unique_ptr<TrainHook>> hooks,
               StopRequest stop, comm::Communicator* comm, comm::Communicator* control)
    : opts_(opts),
      step_(std::move(step)),
      hooks_(std::move(hooks)),
      stop_(std::move(stop)),
      comm_(comm),
      control_(control != nullptr ? control : comm) {
  AGREID_CHECK(opts_.steps_per_epoch > 0, "steps_per_epoch must be positive");
  AGREID_CHECK(opts_.max_epochs >= 0, "max_epochs must not be negative");
  AGREID_CHECK(opts_.max_steps >= 0, "max_steps must not be negative");
  AGREID_CHECK(static_cast<bool>(step_), "the engine needs a step function");
}

bool Engine::stopAgreed() {
  const bool local = stop_ && stop_();
  if (control_ == nullptr || control_->size() == 1) return local;
  at::Tensor flag = torch::full({1}, local ? 1 : 0, torch::kInt);
  control_->allReduce(flag, {comm::ReduceOp::kMax})->wait();
  return flag.data_ptr<int>()[0] != 0;  // host memory: no device read
}

void Engine::readLoss(TrainState& state) {
  const LossMeans m = window_.read(comm_);
  if (m.first_non_finite_step >= 0) {
    throw InputError(opts_.name + ": non-finite loss term '" + m.non_finite_term + "' at step " +
                     std::to_string(m.first_non_finite_step) +
                     "; training stopped without writing a model (lower the learning rate or "
                     "check the data)");
  }
  state.loss = m.loss;
  state.loss_terms = m.loss_terms;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start_).count();
  state.step_seconds = m.steps > 0 ? seconds / static_cast<double>(m.steps) : 0.0;
  state.images_per_s = seconds > 0.0 ? static_cast<double>(m.images) / seconds : 0.0;
  window_start_ = std::chrono::steady_clock::now();
}

RunStatus Engine::run(TrainState& state) {
  state.steps_per_epoch = opts_.steps_per_epoch;
  state.max_epochs = opts_.max_epochs;
  state.max_steps = opts_.max_steps;
  state.stop_requested = false;
  for (auto& h : hooks_) h->beforeTrain(state);
  window_start_ = std::chrono::steady_clock::now();
  while (state.epoch < opts_.max_epochs && !state.stop_requested && !state.finished()) {
    if (state.batch_in_epoch >= opts_.steps_per_epoch) {  // resumed at the end of an epoch
      ++state.epoch;
      state.batch_in_epoch = 0;
      continue;
    }
    for (auto& h : hooks_) h->beforeEpoch(state);
    while (state.batch_in_epoch < opts_.steps_per_epoch && !state.finished()) {
      StepResult r;
      {
        // The profiler's view of a step (tests count the device reads inside it).
        RECORD_USER_SCOPE("agreid::step");
        if (stopAgreed()) {
          state.stop_requested = true;
          break;
        }
        for (auto& h : hooks_) h->beforeStep(state);
        r = step_(state);
        window_.add(r.loss, r.loss_terms, state.step + 1, r.images);
      }
      ++state.step;
      ++state.batch_in_epoch;
      bool read = state.batch_in_epoch == opts_.steps_per_epoch;
      for (auto& h : hooks_) read = h->needsLoss(state) || read;
      if (read) readLoss(state);
      for (auto& h : hooks_) h->afterStep(state);
    }
    if (state.stop_requested || state.batch_in_epoch < opts_.steps_per_epoch) break;
    for (auto& h : hooks_) h->afterEpoch(state);
    ++state.epoch;
    state.batch_in_epoch = 0;
  }
  if (!window_.empty()) readLoss(state);
  for (auto& h : hooks_) h->afterTrain(state);
  return state.stop_requested ? RunStatus::kStopped : RunStatus::kCompleted;
}

}  // namespace agreid::trainer
