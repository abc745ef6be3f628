#include "trainer/stages/dual_guidance.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <chrono>
#include <filesystem>

#include "base/check.h"
#include "base/error.h"
#include "comm/communicator.h"
#include "comm/gradient_reducer.h"
#include "data/loader.h"
#include "data/samplers.h"
#include "trainer/engine/hooks.h"
#include "trainer/engine/lr_schedule.h"
#include "trainer/engine/param_groups.h"
#include "trainer/eval/results.h"
#include "trainer/memory/memory_bank.h"
#include "trainer/model/attribute_encoder.h"
#include "trainer/model/clip_checkpoint.h"
#include "trainer/model/clip_model.h"
#include "trainer/model/reid_model.h"
#include "trainer/stages/attribute_tokens.h"
#include "trainer/stages/dual_guidance_objective.h"
#include "trainer/stages/epoch_loader.h"
#include "trainer/stages/evaluate_model.h"
#include "trainer/stages/reid_checkpoint.h"
#include "trainer/stages/stage2_modules.h"
#include "trainer/stages/stage_loop.h"
#include "trainer/stages/training_data.h"

namespace agreid::trainer {
namespace {

using Clock = std::chrono::steady_clock;

// bf16 autocast on CUDA for the forward pass (run.bf16); a no-op on CPU.
class AutocastScope {
 public:
  explicit AutocastScope(bool enabled) : enabled_(enabled) {
    if (!enabled_) return;
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  }
  ~AutocastScope() {
    if (!enabled_) return;
    at::autocast::set_enabled(false);
    at::autocast::clear_cache();
  }

 private:
  bool enabled_;
};

std::shared_ptr<AttributeEncoder> encoderFromCache(const TrainSetup& setup,
                                                   const PseudoLabelCache& cache,
                                                   const ClipArch& arch) {
  if (!setup.stage2.attributeGuidance()) return nullptr;
  if (cache.encoder.empty()) {
    throw InputError("pseudo-label cache " + cache.key +
                     " has no attribute encoder (computed for the clip-reid method)");
  }
  auto encoder = std::make_shared<AttributeEncoder>(AttributeEncoderOptions::fromConfig(
      setup.stage1, arch.embed_dim, cache.tokens.size(1), arch.text_width));
  torch::NoGradGuard no_grad;
  auto params = encoder->named_parameters();
  for (const auto& [name, value] : cache.encoder) {
    at::Tensor* target = params.find(name);
    if (!target || target->sizes() != value.sizes()) {
      throw InputError("pseudo-label cache " + cache.key + ": attribute encoder tensor '" + name +
                       "' does not fit the configured encoder (stage1.encoder_*)");
    }
    target->copy_(value);
  }
  return encoder;
}

// Batches per epoch: the fewest any epoch yields, so that every epoch has the same length
// (the identity sampler's count varies slightly with the shuffle).
int64_t stepsPerEpoch(const data::IdentitySampler& sampler, int64_t epochs) {
  int64_t steps = std::numeric_limits<int64_t>::max();
  for (int64_t e = 0; e < epochs; ++e) {
    steps = std::min<int64_t>(steps, static_cast<int64_t>(sampler.epochBatches(e).size()));
  }
  return steps;
}

// A token counts as visible where at least this fraction of its attribute's body region is.
constexpr float kVisibleFraction = 0.5f;

// Per dataset sample and token, 0/1: is the token's attribute region visible (tokens that stand
// for no stored attribute count as visible)? Undefined when the dataset stores no visibility or
// stage1.token_attributes does not name one attribute per token; stage2.mask = "oracle" then
// fails with one line.
at::Tensor tokenVisibility(const TrainSetup& setup, const data::DatasetReader& reader, int64_t r) {
  const data::DatasetInfo& info = reader.info();
  const bool named = static_cast<int64_t>(setup.stage1.token_attributes.size()) == r;
  if (!info.has_visibility || !named) {
    if (setup.stage2.attributeGuidance() && setup.stage2.mask == GuidanceMask::kOracle) {
      throw InputError(!info.has_visibility
                           ? setup.dataset +
                                 ": stage2.mask = oracle needs the dataset's "
                                 "/attributes/visibility (agreid synth writes it)"
                           : "stage2.mask = oracle needs stage1.token_attributes: one stored "
                             "attribute (or \"\") per token, " +
                                 std::to_string(r) + " entries");
    }
    return {};
  }
  const std::vector<int> attribute = tokenAttributeIndices(info, setup.stage1.token_attributes, r);
  const auto a = static_cast<int64_t>(info.attribute_names.size());
  const at::Tensor vis = torch::from_blob(const_cast<float*>(reader.visibility().data()),
                                          {reader.size(), a}, torch::kFloat)
                             .ge(kVisibleFraction)
                             .to(torch::kFloat);
  std::vector<at::Tensor> columns;
  for (const int j : attribute) {
    columns.push_back(j >= 0 ? vis.select(1, j) : torch::ones({reader.size()}, torch::kFloat));
  }
  return torch::stack(columns, 1);
}

}  // namespace

std::string finalModelPath(const std::string& out_dir) {
  return (std::filesystem::path(out_dir) / "model_final.pt").string();
}

TrainResult runDualGuidance(const TrainSetup& setup, const PseudoLabelCache& cache,
                            StageContext& ctx) {
  const auto t0 = Clock::now();
  comm::Communicator& comm = ctx.comm;
  const Stage2Options& o = setup.stage2;
  const TrainingData data = loadTrainingData(setup.dataset);
  if (cache.text_features.size(0) != data.num_ids || cache.tokens.size(0) != data.num_ids) {
    throw InputError("pseudo-label cache " + cache.key + " holds " +
                     std::to_string(cache.text_features.size(0)) + " identities, the dataset " +
                     std::to_string(data.num_ids));
  }
  if (!std::filesystem::exists(setup.model.weights)) {
    throw InputError(setup.model.weights + ": CLIP weights file not found (model.weights)");
  }

  torch::manual_seed(setup.seed);
  std::shared_ptr<ReidModel> model;
  ClipArch arch;
  {
    auto clip = loadClip(setup.model.weights);
    arch = clip->arch();
    model = std::make_shared<ReidModel>(
        *clip, ReidModelOptions::fromConfig(setup.model, setup.transform.height,
                                            setup.transform.width, data.num_ids, data.num_cameras));
  }
  auto encoder = encoderFromCache(setup, cache, arch);
  auto trainable = std::make_shared<Stage2Modules>(model, encoder);
  trainable->to(ctx.device);
  const at::Tensor text_features = cache.text_features.to(ctx.device);
  const at::Tensor tokens = cache.tokens.to(ctx.device);
  const at::Tensor token_visibility =
      o.attributeGuidance() ? tokenVisibility(setup, *data.reader, cache.tokens.size(1))
                            : at::Tensor();

  std::unique_ptr<ContrastiveMemoryBank> bank;
  if (o.memory_bank) {
    // The bank keeps its rows in host memory and updates them there (trainer/memory).
    if (!ctx.device.is_cpu()) {
      throw InputError(
          "stage2.memory_bank runs on the CPU only (its rows live in host memory); "
          "set stage2.memory_bank = false or run.device = \"cpu\"");
    }
    MemoryBankOptions mo;
    mo.num_identities = data.num_ids;
    mo.dim = arch.embed_dim;
    mo.temperature = o.memory_temperature;
    mo.momentum = o.memory_momentum;
    bank = std::make_unique<ContrastiveMemoryBank>(mo, comm);
    // Initialised with each identity's mean stage-1 image feature (normalised).
    bank->loadFull(cache.identity_centres.to(ctx.device));
  }

  ParamGroupOptions pg;
  pg.lr = o.lr;
  pg.weight_decay = o.weight_decay;
  pg.bias_lr_factor = o.bias_lr_factor;
  pg.weight_decay_bias = o.weight_decay_bias;
  pg.lr_factors = {{"encoder.", o.encoder_lr_factor}};
  const auto groups = buildParamGroups(*trainable, pg);
  auto optimizer = makeAdam(groups);
  std::vector<at::Tensor> params, buffers;
  for (const auto& g : groups) params.push_back(g.param);
  for (auto& b : trainable->buffers()) buffers.push_back(b);
  comm::GradientReducer reducer(comm, params, buffers);

  if (setup.sampler.identities_per_batch < 2) {
    throw InputError(
        "data.identities_per_batch (P = " + std::to_string(setup.sampler.identities_per_batch) +
        ") must be at least 2: the triplet loss needs another identity in the batch");
  }
  data::IdentitySampler sampler(data.indices, data.labels, setup.sampler, setup.seed,
                                {comm.rank(), comm.size()});
  EngineOptions eo;
  eo.name = "stage 2";
  eo.max_epochs = o.epochs;
  eo.steps_per_epoch = stepsPerEpoch(sampler, o.epochs);
  if (eo.steps_per_epoch == 0) {
    throw InputError(setup.dataset + ": too few identities for one P x K batch (P = " +
                     std::to_string(setup.sampler.identities_per_batch) + ")");
  }
  const char* method = o.method == ReidMethod::kAgReid ? "AG-ReID" : "CLIP-ReID";
  ctx.log.info("stage 2 (", method, "): ", data.indices.size(), " images, ", data.num_ids,
               " identities, ", o.epochs, " epochs x ", eo.steps_per_epoch, " steps, global batch ",
               sampler.globalBatchSize(), " on ", comm.size(), " ranks");

  DualGuidanceObjective objective(o, *model, encoder.get(), text_features, tokens, bank.get(),
                                  comm);
  const bool autocast = ctx.device.is_cuda() && setup.bf16;
  EpochLoader loader(setup.dataset, setup.loader, [&](int64_t epoch) {
    data::LoaderPlan plan;
    plan.batches = sampler.epochBatches(epoch);
    plan.batches.resize(eo.steps_per_epoch);
    plan.mode = data::TransformMode::kTrain;
    plan.transform = setup.transform;
    plan.seed = setup.seed;
    return plan;
  });

  StageParts parts;
  parts.engine = eo;
  parts.step = [&](const TrainState& state) {
    const data::Batch batch = loader.next(state);
    trainable->train();
    ObjectiveTerms terms;
    {
      AutocastScope scope(autocast);
      terms = objective.compute(
          batch.images.to(ctx.device, true), batch.camid.to(ctx.device, true),
          batch.label.to(ctx.device, true), batch.occluded.to(ctx.device, true), state.epoch,
          token_visibility.defined()
              ? token_visibility.index_select(0, batch.index).to(ctx.device, true)
              : at::Tensor());
    }
    optimizer->zero_grad();
    terms.total.backward();
    reducer.finalize();
    optimizer->step();
    StepResult r;
    r.loss = terms.total.detach();
    r.loss_terms = std::move(terms.values);
    if (o.attributeGuidance()) {
      r.loss_terms["attr_gamma"] = terms.gamma;
    }
    r.images = sampler.globalBatchSize();
    return r;
  };
  parts.contents = [&]() {
    CheckpointContents c;
    c.model = trainable.get();
    c.optimizer = optimizer.get();
    if (bank) c.extra["memory_bank"] = bank->gatherFull().to(torch::kCPU);
    for (auto& [name, t] : objective.thresholdState()) c.extra[name] = t;
    return c;
  };
  parts.restore = [&](const LoadedCheckpoint& loaded) {
    objective.restoreThresholdState(loaded.extra);
    if (!bank) return;
    auto it = loaded.extra.find("memory_bank");
    if (it == loaded.extra.end()) throw InputError(loaded.path + ": no memory bank in checkpoint");
    bank->loadFull(it->second.to(ctx.device));
  };
  WarmupMultiStepOptions sched;
  sched.warmup_epochs = o.warmup_epochs;
  sched.warmup_factor = o.warmup_factor;
  sched.milestones = o.milestones;
  sched.gamma = o.gamma;
  parts.hooks.push_back(std::make_unique<LrScheduleHook>(*optimizer, baseLrs(groups),
                                                         warmupMultiStepSchedule(sched)));
  parts.hooks.push_back(loader.releaseHook());
  RunMetrics metrics(setup.out_dir, comm.rank());
  if (setup.eval.eval_every > 0) {
    EvalHookOptions eh;
    eh.every_epochs = setup.eval.eval_every;
    parts.after_hooks.push_back(std::make_unique<EvalHook>(eh, [&](const TrainState& state) {
      ModelEvalSetup es;
      es.dataset = setup.eval.dataset;
      es.transform = setup.transform;
      es.loader = setup.loader;
      es.eval = setup.eval;
      es.eval.ranked_lists = 0;
      es.out_dir = (std::filesystem::path(setup.out_dir) / "eval" /
                    ("epoch-" + std::to_string(state.epoch + 1)))
                       .string();
      const auto r = evaluateModel(*model, es, ctx);
      metrics.write(evalMetricsRecord(state.step, state.epoch, r), state.step,
                    evalMetricsScalars(r));
      ctx.log.info("eval after epoch ", state.epoch + 1, ": ", resultsSummary(r));
      model->to(ctx.device);
    }));
  }

  StageLoopOptions lo =
      stageLoopOptions("train", (std::filesystem::path(setup.out_dir) / "checkpoints").string(),
                       setup.checkpoint, setup.log_every, setup.config_toml, setup.guards);
  lo.global_batch = sampler.globalBatchSize();
  lo.init_from = setup.init_from;
  lo.cache_key = cache.key;
  const StageOutcome run = runStageLoop(lo, std::move(parts), metrics, ctx);

  TrainResult result;
  result.steps = run.state.step;
  result.images_per_s =
      static_cast<double>((run.state.step - run.start_step) * sampler.globalBatchSize()) /
      std::max(1e-9, run.train_seconds);
  result.completed = run.status == RunStatus::kCompleted;
  if (result.completed) {
    result.model_path = finalModelPath(setup.out_dir);
    if (comm.rank() == 0) saveReidCheckpoint(result.model_path, arch, *model, encoder.get());
    comm.barrier();
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return result;
}

}  // namespace agreid::trainer
