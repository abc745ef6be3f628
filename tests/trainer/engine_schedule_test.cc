// Learning-rate schedules against the formulas of method.md §1.3/§1.4, the schedule hook, and the
// optimiser parameter groups.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "trainer/engine/lr_schedule.h"
#include "trainer/engine/param_groups.h"

namespace agreid::trainer {
namespace {

TEST(WarmupMultiStepTest, ClipReidStage2) {
  const WarmupMultiStepOptions opts;  // 10 warmup epochs from 0.1, x0.1 at 30 and 50
  const double base = 5e-6;
  for (int64_t e = 0; e < 10; ++e) {
    const double alpha = e / 10.0;
    EXPECT_DOUBLE_EQ(warmupMultiStepLr(base, e, opts), base * (0.1 * (1 - alpha) + alpha)) << e;
  }
  EXPECT_DOUBLE_EQ(warmupMultiStepLr(base, 1, opts), base * 0.19);
  EXPECT_DOUBLE_EQ(warmupMultiStepLr(base, 10, opts), base);
  EXPECT_DOUBLE_EQ(warmupMultiStepLr(base, 29, opts), base);
  EXPECT_DOUBLE_EQ(warmupMultiStepLr(base, 30, opts), base * 0.1);
  EXPECT_DOUBLE_EQ(warmupMultiStepLr(base, 49, opts), base * 0.1);
  EXPECT_NEAR(warmupMultiStepLr(base, 50, opts), base * 0.01, 1e-20);
  EXPECT_NEAR(warmupMultiStepLr(base, 60, opts), base * 0.01, 1e-20);
}

TEST(WarmupCosineEpochTest, ClipReidStage1) {
  const WarmupCosineEpochOptions opts;  // 5 warmup epochs from 1e-5, min 1e-6, 120 epochs
  const double base = 3.5e-4;
  for (int64_t t = 0; t < 5; ++t) {
    EXPECT_DOUBLE_EQ(warmupCosineEpochLr(base, t, opts), 1e-5 + t * (3.5e-4 - 1e-5) / 5) << t;
  }
  for (int64_t t : {5, 6, 60, 119}) {
    EXPECT_DOUBLE_EQ(warmupCosineEpochLr(base, t, opts),
                     1e-6 + 0.5 * (3.5e-4 - 1e-6) * (1 + std::cos(M_PI * t / 120.0)))
        << t;
  }
  EXPECT_DOUBLE_EQ(warmupCosineEpochLr(base, 120, opts), 1e-6);
}

TEST(WarmupCosineStepTest, Pretraining) {
  const WarmupCosineStepOptions opts{10, 110};
  EXPECT_DOUBLE_EQ(warmupCosineStepLr(1.0, 0, opts), 0.1);
  EXPECT_DOUBLE_EQ(warmupCosineStepLr(1.0, 9, opts), 1.0);
  EXPECT_DOUBLE_EQ(warmupCosineStepLr(1.0, 10, opts), 1.0);
  EXPECT_NEAR(warmupCosineStepLr(1.0, 60, opts), 0.5, 1e-15);
  EXPECT_NEAR(warmupCosineStepLr(1.0, 110, opts), 0.0, 1e-15);
}

struct TwoLayer : torch::nn::Module {
  TwoLayer() {
    fc = register_module("fc", torch::nn::Linear(3, 2));
    head = register_module("head", torch::nn::Linear(2, 2));
    frozen = register_parameter("frozen", torch::ones({2}), /*requires_grad=*/false);
  }
  torch::nn::Linear fc{nullptr}, head{nullptr};
  torch::Tensor frozen;
};

TEST(ParamGroupsTest, BiasFactorExclusionAndPrefixFactor) {
  TwoLayer model;
  ParamGroupOptions opts;
  opts.lr = 1e-3;
  opts.weight_decay = 1e-4;
  opts.bias_lr_factor = 2.0;
  opts.weight_decay_bias = 0.0;
  opts.lr_factors = {{"head.", 10.0}};
  const auto groups = buildParamGroups(model, opts);
  ASSERT_EQ(groups.size(), 4u);  // frozen is left out
  EXPECT_EQ(groups[0].name, "fc.weight");
  EXPECT_DOUBLE_EQ(groups[0].lr, 1e-3);
  EXPECT_DOUBLE_EQ(groups[0].weight_decay, 1e-4);
  EXPECT_EQ(groups[1].name, "fc.bias");
  EXPECT_DOUBLE_EQ(groups[1].lr, 2e-3);
  EXPECT_DOUBLE_EQ(groups[1].weight_decay, 0.0);
  EXPECT_EQ(groups[2].name, "head.weight");
  EXPECT_DOUBLE_EQ(groups[2].lr, 1e-2);
  EXPECT_DOUBLE_EQ(groups[3].lr, 2e-2);

  opts.exclude_prefixes = {"head."};
  EXPECT_EQ(buildParamGroups(model, opts).size(), 2u);
}

TEST(ParamGroupsTest, AdamGroupsFollowTheScheduleHook) {
  TwoLayer model;
  ParamGroupOptions opts;
  opts.lr = 1e-3;
  const auto groups = buildParamGroups(model, opts);
  auto adam = makeAdam(groups);
  ASSERT_EQ(adam->param_groups().size(), groups.size());
  EXPECT_DOUBLE_EQ(adam->param_groups()[1].options().get_lr(), 2e-3);
  const auto& wd = static_cast<torch::optim::AdamOptions&>(adam->param_groups()[1].options());
  EXPECT_DOUBLE_EQ(wd.weight_decay(), opts.weight_decay_bias);

  WarmupMultiStepOptions sched;
  LrScheduleHook hook(*adam, baseLrs(groups), warmupMultiStepSchedule(sched));
  TrainState state;
  state.epoch = 0;  // CLIP-ReID steps before the epoch: epoch 0 uses last_epoch 1
  hook.beforeTrain(state);
  EXPECT_DOUBLE_EQ(adam->param_groups()[0].options().get_lr(), 1e-3 * 0.19);
  EXPECT_DOUBLE_EQ(adam->param_groups()[1].options().get_lr(), 2e-3 * 0.19);
  EXPECT_DOUBLE_EQ(state.lr, 1e-3 * 0.19);
  state.epoch = 29;
  hook.beforeEpoch(state);
  EXPECT_DOUBLE_EQ(adam->param_groups()[1].options().get_lr(), 2e-3 * 0.1);
  hook.beforeStep(state);  // an epoch schedule ignores steps
  EXPECT_DOUBLE_EQ(adam->param_groups()[1].options().get_lr(), 2e-3 * 0.1);

  LrScheduleHook step_hook(*adam, baseLrs(groups), warmupCosineStepSchedule({4, 8}));
  state.step = 1;
  step_hook.beforeStep(state);
  EXPECT_DOUBLE_EQ(adam->param_groups()[0].options().get_lr(), 1e-3 * 0.5);
}

}  // namespace
}  // namespace agreid::trainer
