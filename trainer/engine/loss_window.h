// LossWindow: the engine's running sums of the step losses since the last read (Note [Loss
// window] in engine.h). add() only queues device operations; read() is the one host
// synchronisation, collective over the ranks.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace agreid::comm {
class Communicator;
}

namespace agreid::trainer {

struct LossMeans {
  double loss = 0.0;                         // mean total loss over the window's steps and ranks
  std::map<std::string, double> loss_terms;  // mean of each named term
  int64_t steps = 0;                         // steps in the window
  int64_t images = 0;                        // images of all ranks in the window
  int64_t first_non_finite_step = -1;  // first step (1-based) with a non-finite term; -1: none
  std::string non_finite_term;         // its name ("loss" for the total)
};

class LossWindow {
 public:
  // One step's detached 0-dim losses (any device; the same names on every rank and every step).
  // `step` is the number of steps done after it (state.step after the step).
  void add(const at::Tensor& loss, const std::map<std::string, at::Tensor>& terms, int64_t step,
           int64_t images);
  bool empty() const { return steps_ == 0; }
  // All ranks (when `comm` has several). Returns the means and empties the window.
  LossMeans read(comm::Communicator* comm);

 private:
  std::vector<std::string> names_;  // "loss", then the terms in map order
  at::Tensor sums_;                 // [names] float64 on the step's device
  at::Tensor first_bad_;            // [names] float64: first non-finite step, +inf if none
  int64_t steps_ = 0;
  int64_t images_ = 0;
};

}  // namespace agreid::trainer
