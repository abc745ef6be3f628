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
  int64_t max_steps = 0;  // > 0: the run ends after this many steps
  double lr = 0.0;        // learning rate of the first parameter group
  double loss = 0.0;      // total loss: mean over the steps of the last read window and the ranks
  std::map<std::string, double> loss_terms;  // named terms, the same way
  double images_per_s = 0.0;                 // global images per second over that window
  double step_seconds = 0.0;                 // mean wall time of a step in that window
  bool stop_requested = false;               // a stop request ended (or is ending) the run early

  int64_t totalSteps() const {
    const int64_t all = steps_per_epoch * max_epochs;
    return max_steps > 0 && max_steps < all ? max_steps : all;
  }
  bool finished() const { return step >= totalSteps(); }
};

}  // namespace agreid::trainer
