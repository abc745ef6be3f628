// TrainState: the plain state of a training run, passed to every hook (style.md lesson 8).
// The Engine owns it while running; hooks read it and may not keep references past the call.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace agreid::trainer {

struct TrainState {
  int64_t step = 0;            // optimiser steps completed so far (global, across epochs)
  int64_t epoch = 0;           // current epoch, 0-based
  int64_t batch_in_epoch = 0;  // batches of `epoch` completed (the sampler position)
  int64_t steps_per_epoch = 0;
  int64_t max_epochs = 0;
  double lr = 0.0;                           // learning rate of the first parameter group
  double loss = 0.0;                         // total loss of the last step
  std::map<std::string, double> loss_terms;  // named terms of the last step
  double images_per_s = 0.0;                 // global images per second of the last step
  double step_seconds = 0.0;                 // wall time of the last step
  bool stop_requested = false;               // a stop request ended (or is ending) the run early

  int64_t totalSteps() const { return steps_per_epoch * max_epochs; }
  bool finished() const { return step >= totalSteps(); }
};

}  // namespace agreid::trainer
