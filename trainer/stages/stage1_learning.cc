#include "trainer/stages/stage1_learning.h"

#include <torch/torch.h>

#include "base/error.h"
#include "comm/all_gather_autograd.h"
#include "comm/communicator.h"
#include "comm/gradient_reducer.h"
#include "trainer/engine/lr_schedule.h"
#include "trainer/losses/attribute_losses.h"
#include "trainer/losses/supcon_loss.h"

namespace agreid::trainer {

StageOutcome learnPseudoLabelTokens(const PseudoLabelSetup& setup,
                                    const Stage1LearnOptions& options, const Stage1Features& state,
                                    const TextTransformer& text_tower, Stage1Modules& trained,
                                    StageContext& ctx) {
  const Stage1Options& o = setup.stage1;
  comm::Communicator& comm = ctx.comm;
  const int rank = comm.rank(), world = comm.size();
  PromptLearner& learner = *trained.learner;
  AttributeEncoder* encoder = trained.encoder.get();
  std::vector<at::Tensor> params;
  if (o.pseudo_labels == PseudoLabelSource::kLearned) params.push_back(learner.ctx);
  if (encoder) {
    for (auto& p : encoder->parameters()) params.push_back(p);
  }
  // Broadcasts rank 0's initial tokens and encoder, then averages gradients over ranks.
  comm::GradientReducer reducer(comm, params);
  torch::optim::Adam optimizer(params,
                               torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
  const int64_t n = state.features.size(0);
  if (o.batch_size <= 0 || n == 0) {
    throw InputError(setup.dataset + ": stage 1 needs training images and stage1.batch_size > 0");
  }
  EngineOptions eo;
  eo.name = "stage 1";
  eo.steps_per_epoch = (n + o.batch_size - 1) / o.batch_size;
  eo.max_epochs = o.epochs;
  eo.max_steps = options.max_steps;

  AlignmentOptions local_sum;
  local_sum.reduction = AttrReduction::kSum;
  local_sum.joint = o.joint;
  const at::Tensor host_labels = state.labels.to(torch::kCPU);
  // The data source: epoch e visits the cached features in a permutation of its own.
  at::Tensor perm;
  int64_t perm_epoch = -1;
  StageParts parts;
  parts.engine = eo;
  parts.step = [&](const TrainState& s) {
    if (perm_epoch != s.epoch) {
      auto gen =
          at::detail::createCPUGenerator(setup.seed * 1000003ULL + static_cast<uint64_t>(s.epoch));
      perm = at::randperm(n, gen, at::TensorOptions().dtype(at::kLong));
      perm_epoch = s.epoch;
    }
    const int64_t begin = s.batch_in_epoch * o.batch_size;
    const int64_t count = std::min(o.batch_size, n - begin);
    const at::Tensor host_chunk = perm.slice(0, begin, begin + count);
    const at::Tensor chunk = host_chunk.to(ctx.device, /*non_blocking=*/true);
    const at::Tensor y = state.labels.index_select(0, chunk);
    const at::Tensor img = state.features.index_select(0, chunk);
    const int64_t lo = count * rank / world, hi = count * (rank + 1) / world;
    const at::Tensor y_local = y.slice(0, lo, hi);
    // A prompt depends only on its label: encode each label of the slice once. The distinct
    // labels are found on the host (their number sizes a tensor: on the device, a wait).
    const auto [unique, inverse] =
        at::_unique(host_labels.index_select(0, host_chunk.slice(0, lo, hi)), /*sorted=*/true,
                    /*return_inverse=*/true);
    at::Tensor text = learner.textFeatures(text_tower, unique.to(ctx.device, /*non_blocking=*/true))
                          .index_select(0, inverse.to(ctx.device, /*non_blocking=*/true));
    if (world > 1) text = comm::allGatherWithGrad(comm, text);
    const at::Tensor supcon = supConLoss(img, text, y, y) + supConLoss(text, img, y, y);
    at::Tensor loss = supcon;
    StepResult r;
    r.loss_terms["supcon"] = supcon.detach();
    if (encoder && o.lambda_attr > 0) {
      // Local sum scaled so that the average over ranks is the global chunk's mean (or sum).
      at::Tensor attr = torch::zeros({}, img.options());
      if (hi > lo) {
        const at::Tensor a = encoder->forward(img.slice(0, lo, hi));
        const at::Tensor v = learner.ctx.index_select(0, y_local);
        const double denom =
            o.attr_reduction == AttrReduction::kSum ? 1.0 : static_cast<double>(count);
        attr = (world / denom) * attributeAlignmentLoss(a, v, local_sum);
      }
      loss = loss + o.lambda_attr * attr;
      r.loss_terms["attr_align"] = attr.detach();
    }
    optimizer.zero_grad();
    loss.backward();
    reducer.finalize();
    optimizer.step();
    r.loss = loss.detach();
    r.images = count;
    return r;
  };
  parts.contents = modelAndOptimizer(trained, optimizer);
  WarmupCosineEpochOptions schedule;
  schedule.warmup_epochs = o.warmup_epochs;
  schedule.warmup_lr = o.warmup_lr;
  schedule.min_lr = o.min_lr;
  schedule.epochs = o.epochs;
  parts.hooks.push_back(std::make_unique<LrScheduleHook>(optimizer, std::vector<double>{o.lr},
                                                         warmupCosineEpochSchedule(schedule)));

  StageLoopOptions lo =
      stageLoopOptions("stage1", stage1CheckpointDir(setup.run_dir), setup.checkpoint,
                       setup.log_every, setup.config_toml, setup.guards);
  lo.global_batch = o.batch_size;
  lo.cache_key = options.key;
  RunMetrics metrics(setup.run_dir, ctx.comm.rank());
  ctx.log.info("stage 1: ", n, " images, ", o.epochs, " epochs x ", eo.steps_per_epoch,
               " steps, batch ", o.batch_size, " on ", world, " ranks");
  return runStageLoop(lo, std::move(parts), metrics, ctx);
}

}  // namespace agreid::trainer
