#include "trainer/stages/stage1_learning.h"

#include <torch/torch.h>

#include <string>
#include <vector>

#include "base/error.h"
#include "comm/communicator.h"
#include "comm/gradient_reducer.h"
#include "trainer/engine/lr_schedule.h"
#include "trainer/stages/stage1_batches.h"
#include "trainer/stages/stage1_objective.h"

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
  if (o.batch_size <= 0 || state.total <= 0) {
    throw InputError(setup.dataset + ": stage 1 needs training images and stage1.batch_size > 0");
  }
  const Stage1Batches batches(state.total, o.batch_size, world, setup.seed);
  if (state.features.size(0) != batches.shardSize(rank)) {
    throw InputError(setup.dataset + ": rank " + std::to_string(rank) + " holds " +
                     std::to_string(state.features.size(0)) + " cached features, expected " +
                     std::to_string(batches.shardSize(rank)) + " (its shard of " +
                     std::to_string(state.total) + ")");
  }
  EngineOptions eo;
  eo.name = "stage 1";
  eo.steps_per_epoch = batches.stepsPerEpoch();
  eo.max_epochs = o.epochs;
  eo.max_steps = options.max_steps;

  const Stage1ObjectiveOptions objective = Stage1ObjectiveOptions::fromConfig(o);
  const at::Tensor host_labels = state.labels.to(torch::kCPU);
  // The data source (stage1_batches.h): epoch e visits this rank's shard in a permutation.
  at::Tensor perm;
  int64_t perm_epoch = -1;
  StageParts parts;
  parts.engine = eo;
  parts.step = [&](const TrainState& s) {
    if (perm_epoch != s.epoch) {
      perm = batches.epochOrder(rank, s.epoch);
      perm_epoch = s.epoch;
    }
    const auto [begin, end] = batches.positions(rank, s.batch_in_epoch);
    const at::Tensor host_rows = perm.slice(0, begin, end);
    const at::Tensor rows = host_rows.to(ctx.device, /*non_blocking=*/true);
    // The global batch: every rank's rows in rank order (the features are frozen: no gradient),
    // with their labels on the host too (over the host communicator: no device read).
    const std::vector<int64_t> counts = batches.counts(s.batch_in_epoch);
    const at::Tensor y_local = state.labels.index_select(0, rows);
    const at::Tensor img_local = state.features.index_select(0, rows);
    const at::Tensor host_local = host_labels.index_select(0, host_rows);
    Stage1Batch batch;
    batch.features = world > 1 ? gatherBatchRows(comm, img_local, counts, false) : img_local;
    batch.labels = world > 1 ? gatherBatchRows(comm, y_local, counts, false) : y_local;
    batch.host_labels =
        world > 1 ? gatherBatchRows(ctx.hostComm(), host_local, counts, false) : host_local;
    const Stage1Terms terms = stage1Objective(batch, learner, text_tower, encoder, objective, comm);
    const at::Tensor& loss = terms.loss;
    StepResult r;
    r.loss_terms["supcon"] = terms.supcon;
    if (terms.attr.defined()) r.loss_terms["attr_align"] = terms.attr;
    optimizer.zero_grad();
    loss.backward();
    reducer.finalize();
    optimizer.step();
    r.loss = loss.detach();
    r.images = batch.features.size(0);
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
  ctx.log.info("stage 1: ", state.total, " images, ", o.epochs, " epochs x ", eo.steps_per_epoch,
               " steps, batch ", o.batch_size, " on ", world, " ranks");
  return runStageLoop(lo, std::move(parts), metrics, ctx);
}

}  // namespace agreid::trainer
