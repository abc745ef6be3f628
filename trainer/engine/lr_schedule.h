// Learning-rate schedules as pure functions (method.md §1.3, §1.4) and the hook that applies them
// to an optimiser's parameter groups.
//
// - warmupMultiStepLr: CLIP-ReID stage 2 (WarmupMultiStepLR, linear warmup), stepped once per
//   epoch before the epoch: engine epoch e (0-based) uses last_epoch = e + 1.
// - warmupCosineEpochLr: timm CosineLRScheduler as CLIP-ReID stage 1 creates it (t_in_epochs,
//   cycle_limit 1, no warmup prefix), stepped with t = e + 1.
// - warmupCosineStepLr: linear warmup then cosine to zero per optimiser step (OpenCLIP's
//   cosine_lr), for pretraining; step s (0-based) is the step about to run.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "trainer/engine/train_hook.h"

namespace torch::optim {
class Optimizer;
}

namespace agreid::trainer {

struct WarmupMultiStepOptions {
  int64_t warmup_epochs = 10;
  double warmup_factor = 0.1;
  std::vector<int64_t> milestones = {30, 50};
  double gamma = 0.1;
};

// base * f * gamma^(number of milestones <= last_epoch), f = warmup_factor (1 - a) + a with
// a = last_epoch / warmup_epochs while last_epoch < warmup_epochs, else 1.
double warmupMultiStepLr(double base_lr, int64_t last_epoch, const WarmupMultiStepOptions& opts);

struct WarmupCosineEpochOptions {
  int64_t warmup_epochs = 5;
  double warmup_lr = 1e-5;  // lr at t = 0
  double min_lr = 1e-6;
  int64_t epochs = 120;  // t_initial
};

// t < warmup: warmup_lr + t (base - warmup_lr) / warmup_epochs; t < epochs: min_lr + 0.5 (base -
// min_lr)(1 + cos(pi t / epochs)); t >= epochs: min_lr.
double warmupCosineEpochLr(double base_lr, int64_t t, const WarmupCosineEpochOptions& opts);

struct WarmupCosineStepOptions {
  int64_t warmup_steps = 50;
  int64_t total_steps = 600;
};

// s < warmup: base (s + 1) / warmup_steps; else 0.5 (1 + cos(pi (s - warmup) / (total - warmup)))
// base.
double warmupCosineStepLr(double base_lr, int64_t step, const WarmupCosineStepOptions& opts);

enum class ScheduleUnit {
  kEpoch,  // applied before every epoch (and before a resumed partial epoch)
  kStep,   // applied before every step
};

struct LrSchedule {
  ScheduleUnit unit = ScheduleUnit::kEpoch;
  std::function<double(double base_lr, const TrainState& state)> lr;
};

LrSchedule warmupMultiStepSchedule(const WarmupMultiStepOptions& opts);
LrSchedule warmupCosineEpochSchedule(const WarmupCosineEpochOptions& opts);
LrSchedule warmupCosineStepSchedule(const WarmupCosineStepOptions& opts);

// Sets group g's lr to schedule.lr(base_lrs[g], state) at the schedule's unit, and keeps
// state.lr at group 0's value. The schedule's state is (epoch, step), which checkpoints hold.
// `optimizer` must outlive the hook; base_lrs has one entry per parameter group.
class LrScheduleHook : public TrainHook {
 public:
  LrScheduleHook(torch::optim::Optimizer& optimizer, std::vector<double> base_lrs,
                 LrSchedule schedule);
  void beforeTrain(TrainState& state) override;
  void beforeEpoch(TrainState& state) override;
  void beforeStep(TrainState& state) override;

 private:
  void apply(TrainState& state);
  torch::optim::Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  LrSchedule schedule_;
};

}  // namespace agreid::trainer
