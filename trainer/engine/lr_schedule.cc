#include "trainer/engine/lr_schedule.h"

#include <torch/optim/optimizer.h>

#include <algorithm>
#include <cmath>

#include "base/check.h"

namespace agreid::trainer {

double warmupMultiStepLr(double base_lr, int64_t last_epoch, const WarmupMultiStepOptions& opts) {
  double factor = 1.0;
  if (last_epoch < opts.warmup_epochs) {
    const double alpha = static_cast<double>(last_epoch) / static_cast<double>(opts.warmup_epochs);
    factor = opts.warmup_factor * (1.0 - alpha) + alpha;
  }
  const auto passed = std::count_if(opts.milestones.begin(), opts.milestones.end(),
                                    [&](int64_t m) { return m <= last_epoch; });
  return base_lr * factor * std::pow(opts.gamma, static_cast<double>(passed));
}

double warmupCosineEpochLr(double base_lr, int64_t t, const WarmupCosineEpochOptions& opts) {
  if (t < opts.warmup_epochs) {
    return opts.warmup_lr + static_cast<double>(t) * (base_lr - opts.warmup_lr) /
                                static_cast<double>(opts.warmup_epochs);
  }
  if (t >= opts.epochs) return opts.min_lr;
  return opts.min_lr +
         0.5 * (base_lr - opts.min_lr) *
             (1.0 + std::cos(M_PI * static_cast<double>(t) / static_cast<double>(opts.epochs)));
}

double warmupCosineStepLr(double base_lr, int64_t step, const WarmupCosineStepOptions& opts) {
  if (step < opts.warmup_steps) {
    return base_lr * static_cast<double>(step + 1) / static_cast<double>(opts.warmup_steps);
  }
  const double e = static_cast<double>(step - opts.warmup_steps);
  const double es = static_cast<double>(std::max<int64_t>(opts.total_steps - opts.warmup_steps, 1));
  return 0.5 * (1.0 + std::cos(M_PI * e / es)) * base_lr;
}

LrSchedule warmupMultiStepSchedule(const WarmupMultiStepOptions& opts) {
  return {ScheduleUnit::kEpoch, [opts](double base, const TrainState& s) {
            return warmupMultiStepLr(base, s.epoch + 1, opts);
          }};
}

LrSchedule warmupCosineEpochSchedule(const WarmupCosineEpochOptions& opts) {
  return {ScheduleUnit::kEpoch, [opts](double base, const TrainState& s) {
            return warmupCosineEpochLr(base, s.epoch + 1, opts);
          }};
}

LrSchedule warmupCosineStepSchedule(const WarmupCosineStepOptions& opts) {
  return {ScheduleUnit::kStep, [opts](double base, const TrainState& s) {
            return warmupCosineStepLr(base, s.step, opts);
          }};
}

LrScheduleHook::LrScheduleHook(torch::optim::Optimizer& optimizer, std::vector<double> base_lrs,
                               LrSchedule schedule)
    : optimizer_(optimizer), base_lrs_(std::move(base_lrs)), schedule_(std::move(schedule)) {
  AGREID_CHECK(base_lrs_.size() == optimizer_.param_groups().size(),
               "one base lr per group: ", base_lrs_.size(), " for ",
               optimizer_.param_groups().size(), " groups");
}

void LrScheduleHook::apply(TrainState& state) {
  auto& groups = optimizer_.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    groups[g].options().set_lr(schedule_.lr(base_lrs_[g], state));
  }
  if (!groups.empty()) state.lr = groups[0].options().get_lr();
}

void LrScheduleHook::beforeTrain(TrainState& state) { apply(state); }

void LrScheduleHook::beforeEpoch(TrainState& state) {
  if (schedule_.unit == ScheduleUnit::kEpoch) apply(state);
}

void LrScheduleHook::beforeStep(TrainState& state) {
  if (schedule_.unit == ScheduleUnit::kStep) apply(state);
}

}  // namespace agreid::trainer
