#include "trainer/stages/pretrain.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <string>
#include <unordered_map>

#include "base/error.h"
#include "comm/communicator.h"
#include "comm/gradient_reducer.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "trainer/engine/lr_schedule.h"
#include "trainer/losses/clip_loss.h"
#include "trainer/model/clip_checkpoint.h"
#include "trainer/model/clip_model.h"
#include "trainer/model/tokenizer.h"
#include "trainer/stages/attribute_readout.h"
#include "trainer/stages/epoch_loader.h"
#include "trainer/stages/feature_pass.h"
#include "trainer/stages/pretrain_batches.h"
#include "trainer/stages/stage_loop.h"
#include "trainer/stages/zero_shot.h"

namespace agreid::trainer {
namespace {

using Clock = std::chrono::steady_clock;

// Stores the loss of the first step this process runs into `loss` (the engine reads the loss
// window for it); `loss` must outlive the hook.
class FirstLossHook : public TrainHook {
 public:
  explicit FirstLossHook(double& loss) : loss_(loss) {}
  void beforeTrain(TrainState& state) override { first_step_ = state.step + 1; }
  bool needsLoss(const TrainState& state) const override { return state.step == first_step_; }
  void afterStep(TrainState& state) override {
    if (state.step == first_step_) loss_ = state.loss;
  }

 private:
  int64_t first_step_ = 1;
  double& loss_;
};

// Per sample and readout group, the stored per-attribute value (`stored`: [N, A] row-major) of
// the group's matching attribute: [N, G] of `dtype`, `fill` where a group has no stored attribute.
template <typename Stored, typename Out>
at::Tensor perReadoutGroup(const std::vector<Stored>& stored, int64_t attributes,
                           const ReadoutVocabulary& vocab, Out fill, at::ScalarType dtype) {
  const int64_t groups = static_cast<int64_t>(vocab.groups.size());
  const int64_t n = attributes > 0 ? static_cast<int64_t>(stored.size()) / attributes : 0;
  at::Tensor out = torch::full({n, groups}, fill, dtype);
  auto acc = out.accessor<Out, 2>();
  for (int64_t g = 0; g < groups; ++g) {
    const int a = vocab.dataset_attribute[g];
    if (a < 0) continue;
    for (int64_t i = 0; i < n; ++i) acc[i][g] = static_cast<Out>(stored[i * attributes + a]);
  }
  return out;
}

// The stored value of each readout group for every sample: [N, G] int64, -1 where a group has
// no stored attribute (or the dataset stores none).
at::Tensor sampleAttributes(const data::DatasetReader& reader, const ReadoutVocabulary& vocab) {
  const int64_t stored = static_cast<int64_t>(reader.info().attribute_names.size());
  if (reader.attributes().empty() || stored == 0) {
    return torch::full({reader.size(), static_cast<int64_t>(vocab.groups.size())}, -1,
                       torch::kLong);
  }
  return perReadoutGroup<int32_t, int64_t>(reader.attributes(), stored, vocab, -1, torch::kLong);
}

// The stored visibility of each readout group's body region for every sample: [N, G] float,
// undefined when the dataset stores no visibility (groups without a stored attribute: 1).
at::Tensor sampleVisibility(const data::DatasetReader& reader, const ReadoutVocabulary& vocab) {
  if (!reader.info().has_visibility) return {};
  const int64_t stored = static_cast<int64_t>(reader.info().attribute_names.size());
  return perReadoutGroup<float, float>(reader.visibility(), stored, vocab, 1.0f, torch::kFloat);
}

at::Tensor rows(const at::Tensor& t, const std::vector<int64_t>& indices) {
  return t.index_select(0, torch::tensor(indices, torch::kLong));
}

// The people of the training pairs grouped by pretrain.hard_negatives (empty when it is off).
PretrainPeople hardNegativePeople(const data::DatasetReader& reader, const PretrainOptions& o,
                                  const std::vector<int64_t>& train) {
  if (o.hard_negatives.empty()) return {};
  const auto& names = reader.info().attribute_names;
  if (names.empty() || reader.attributes().empty()) {
    throw InputError(o.data + ": stores no attributes, which pretrain.hard_negatives needs");
  }
  std::vector<int> columns;
  for (const auto& name : o.hard_negatives) {
    const auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) {
      throw InputError("pretrain.hard_negatives: '" + name + "' is not an attribute stored in " +
                       o.data);
    }
    columns.push_back(static_cast<int>(it - names.begin()));
  }
  if (o.hard_negative_people > o.batch_size) {
    throw InputError("pretrain.hard_negative_people = " + std::to_string(o.hard_negative_people) +
                     " is larger than pretrain.batch_size = " + std::to_string(o.batch_size));
  }
  PretrainPeople people = groupPretrainPeople(train, reader.samples().pid, reader.attributes(),
                                              static_cast<int64_t>(names.size()), columns);
  if (static_cast<int64_t>(people.samples.size()) < o.batch_size) {
    throw InputError(o.data + ": " + std::to_string(people.samples.size()) +
                     " training people, fewer than pretrain.batch_size (one image per person " +
                     "in a batch with pretrain.hard_negatives)");
  }
  return people;
}

// Zero-shot report of `model` on the held-out people of `split` (zero_shot.h).
ZeroShotReport evaluateZeroShot(ClipModel& model, const ClipTokenizer& tokenizer,
                                const at::Tensor& tokens, const HeldOutSplit& split,
                                const ReadoutVocabulary& vocab, const at::Tensor& attributes,
                                const at::Tensor& visibility, FeaturePassOptions pass,
                                StageContext& ctx) {
  ZeroShotReport report;
  report.people = static_cast<int64_t>(split.people.size());
  report.images = static_cast<int64_t>(split.holdout.size());
  pass.indices = split.holdout;
  const at::Tensor image = encodeDataset(
      pass, [&](const at::Tensor& x, const at::Tensor&) { return model.visual->forward(x).f_proj; },
      ctx);
  torch::NoGradGuard g;
  if (!vocab.empty()) {
    const auto values = readoutPromptFeatures(tokenizer, *model.text, vocab, ctx.device);
    scoreZeroShotAttributes(image, rows(attributes, split.holdout), values, vocab.groups,
                            majorityValues(rows(attributes, split.train)), report,
                            visibility.defined() ? rows(visibility, split.holdout) : at::Tensor());
  }
  // One image and one caption per held-out person, in the order of split.people.
  std::vector<int64_t> person_rows;
  for (int64_t sample : split.people) {
    person_rows.push_back(
        static_cast<int64_t>(std::lower_bound(split.holdout.begin(), split.holdout.end(), sample) -
                             split.holdout.begin()));
  }
  const at::Tensor text = model.text->forward(rows(tokens, split.people).to(ctx.device));
  std::tie(report.recall1, report.recall5) =
      retrievalRecall(rows(image, person_rows), text.to(torch::kCPU));
  return report;
}

}  // namespace

std::string pretrainCheckpointDir(const std::string& run_dir) {
  return (std::filesystem::path(run_dir) / "checkpoints" / "pretrain").string();
}

PretrainResult runPretrain(const PretrainSetup& setup, StageContext& ctx) {
  const auto t0 = Clock::now();
  const PretrainOptions& o = setup.pretrain;
  comm::Communicator& comm = ctx.comm;
  const int rank = comm.rank(), world = comm.size();
  if (o.data.empty()) throw InputError("pretrain.data: no captioned dataset file given");
  if (!std::filesystem::exists(o.data)) {
    throw InputError(o.data + ": captioned dataset file not found (pretrain.data)");
  }
  if (o.batch_size % world != 0) {
    throw InputError("pretrain.batch_size = " + std::to_string(o.batch_size) +
                     " is not divisible by the " + std::to_string(world) + " ranks");
  }
  ClipTokenizer tokenizer(setup.vocab);
  const ClipArch arch = ClipArch::fromOptions(setup.arch);

  // Captions are tokenised up front: HDF5 is used by one thread at a time, and the loaders'
  // I/O threads own it while training runs.
  at::Tensor tokens;
  at::Tensor caption_keys;  // [N] one id per distinct caption (pretrain.multi_positive)
  HeldOutSplit split;
  PretrainPeople people;  // pretrain.hard_negatives
  ReadoutVocabulary vocab;
  at::Tensor attributes;  // [N, G] stored value of each readout group (-1: none)
  at::Tensor visibility;  // [N, G] visible fraction of each group's region (undefined: none)
  {
    data::DatasetReader reader(o.data);
    if (!reader.info().has_captions) throw InputError(o.data + ": the dataset has no captions");
    const int64_t n = reader.size();
    tokens = torch::zeros({n, arch.context_length}, torch::kLong);
    TokenizeOptions topts;
    topts.context_length = arch.context_length;
    topts.truncate = true;
    if (o.multi_positive) caption_keys = torch::empty({n}, torch::kLong);
    std::unordered_map<std::string, int64_t> distinct;
    for (int64_t i = 0; i < n; ++i) {
      const std::string caption = reader.caption(i);
      const auto ids = tokenizer.tokenize(caption, topts);
      tokens[i].copy_(torch::tensor(ids, torch::kLong));
      if (!o.multi_positive) continue;
      caption_keys[i] =
          distinct.emplace(caption, static_cast<int64_t>(distinct.size())).first->second;
    }
    split = splitHeldOutPeople(reader.samples().pid, o.holdout, setup.seed);
    people = hardNegativePeople(reader, o, split.train);
    vocab = readoutVocabulary(reader, setup.readout_vocabulary);
    attributes = sampleAttributes(reader, vocab);
    visibility = sampleVisibility(reader, vocab);
  }
  const at::Tensor train_idx = torch::tensor(split.train, torch::kLong);
  const int64_t num_train = train_idx.size(0);
  if (num_train < o.batch_size || o.batch_size <= 0) {
    throw InputError(o.data + ": " + std::to_string(num_train) +
                     " training pairs, fewer than pretrain.batch_size");
  }

  torch::manual_seed(setup.seed);
  ClipModel model(arch);
  model.to(ctx.device);
  std::vector<at::Tensor> decay, no_decay;
  for (auto& p : model.parameters()) (p.dim() < 2 ? no_decay : decay).push_back(p);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                 torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay)));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(o.lr).weight_decay(0.0)));
  torch::optim::AdamW optimizer(std::move(groups));
  {
    torch::NoGradGuard g;
    model.logit_scale.fill_(std::log(1.0 / o.init_temperature));
  }
  comm::GradientReducer reducer(comm, model.parameters());

  data::TransformOptions transform = setup.transform;
  transform.height = setup.arch.image_height;
  transform.width = setup.arch.image_width;
  transform.pad = 0;
  transform.erasing_prob = 0;

  const int64_t local_batch = o.batch_size / world;
  EngineOptions eo;
  eo.name = "pretrain";
  const bool hard_negatives = !people.samples.empty();
  eo.steps_per_epoch =
      (hard_negatives ? static_cast<int64_t>(people.samples.size()) : num_train) / o.batch_size;
  eo.max_epochs = (o.steps + eo.steps_per_epoch - 1) / eo.steps_per_epoch;
  eo.max_steps = o.steps;
  // Epoch e visits the training pairs in a permutation of its own (or, with hard negatives, every
  // person once in chunks that share attributes); rank r takes its slice of every global batch.
  HardNegativeBatching batching;
  batching.batch_size = o.batch_size;
  batching.group_people = o.hard_negative_people;
  batching.seed = setup.seed;
  EpochLoader loader(o.data, setup.loader, [&](int64_t epoch) {
    auto gen = at::detail::createCPUGenerator(setup.seed * 7919ULL + static_cast<uint64_t>(epoch));
    const at::Tensor order =
        hard_negatives ? torch::tensor(hardNegativeEpoch(people, batching, epoch), torch::kLong)
                       : train_idx.index_select(
                             0, at::randperm(num_train, gen, at::TensorOptions().dtype(at::kLong)));
    data::LoaderPlan plan;
    plan.mode = data::TransformMode::kTrain;
    plan.transform = transform;
    plan.seed = setup.seed;
    for (int64_t b = 0; b < eo.steps_per_epoch; ++b) {
      const at::Tensor slice = order.slice(0, b * o.batch_size + rank * local_batch,
                                           b * o.batch_size + (rank + 1) * local_batch);
      plan.batches.emplace_back(slice.data_ptr<int64_t>(),
                                slice.data_ptr<int64_t>() + slice.numel());
    }
    return plan;
  });

  StageParts parts;
  parts.engine = eo;
  parts.step = [&](const TrainState& state) {
    const data::Batch batch = loader.next(state);
    model.train();
    const at::Tensor images = batch.images.to(ctx.device, true);
    const at::Tensor host_ids = tokens.index_select(0, batch.index);
    const at::Tensor ids = host_ids.to(ctx.device, true);
    const at::Tensor image_features = model.visual->forward(images).f_proj;
    const at::Tensor text_features =
        model.text->forward(ids, TextTransformer::usedLength(host_ids));
    const at::Tensor keys = o.multi_positive
                                ? caption_keys.index_select(0, batch.index).to(ctx.device, true)
                                : at::Tensor();
    const at::Tensor loss =
        clipContrastiveLoss(image_features, text_features, model.logit_scale, comm, keys);
    optimizer.zero_grad();
    loss.backward();
    reducer.finalize();
    optimizer.step();
    torch::NoGradGuard g;  // CLIP clamps the temperature at 1/100
    model.logit_scale.clamp_(0, std::log(kMaxLogitScale));
    StepResult r;
    r.loss = loss.detach();
    r.loss_terms["temperature"] = model.logit_scale.detach().neg().exp();
    r.images = o.batch_size;
    return r;
  };
  parts.contents = modelAndOptimizer(model, optimizer);
  WarmupCosineStepOptions schedule;
  schedule.warmup_steps = o.warmup_steps;
  schedule.total_steps = o.steps;
  parts.hooks.push_back(std::make_unique<LrScheduleHook>(
      optimizer, std::vector<double>(optimizer.param_groups().size(), o.lr),
      warmupCosineStepSchedule(schedule)));
  parts.hooks.push_back(loader.releaseHook());
  PretrainResult result;
  parts.hooks.push_back(std::make_unique<FirstLossHook>(result.first_loss));

  StageLoopOptions lo =
      stageLoopOptions("pretrain", pretrainCheckpointDir(setup.run_dir), setup.checkpoint,
                       setup.log_every, setup.config_toml, setup.guards);
  lo.global_batch = o.batch_size;
  RunMetrics metrics(setup.run_dir, ctx.comm.rank());
  ctx.log.info("pretrain: ", num_train, " training pairs, ", o.steps, " steps, global batch ",
               o.batch_size, " on ", world, " ranks");
  if (hard_negatives) {
    const int64_t groups = *std::max_element(people.group.begin(), people.group.end()) + 1;
    ctx.log.info("pretrain: hard negatives: ", people.samples.size(), " training people in ",
                 groups, " groups that share ", o.hard_negatives.size(), " attributes, chunks of ",
                 o.hard_negative_people, " people, one image each");
  }
  const StageOutcome run = runStageLoop(lo, std::move(parts), metrics, ctx);

  result.steps = run.state.step;
  result.final_loss = run.state.loss;
  result.images_per_s = static_cast<double>((run.state.step - run.start_step) * o.batch_size) /
                        std::max(1e-9, run.train_seconds);
  if (run.status == RunStatus::kStopped) {
    result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return result;
  }
  result.completed = true;

  // Zero-shot attributes and caption retrieval on the held-out people.
  model.eval();
  FeaturePassOptions pass_base;
  pass_base.dataset = o.data;
  pass_base.transform = transform;
  pass_base.loader = setup.loader;
  pass_base.label = "pretrain holdout";
  if (!split.holdout.empty()) {
    result.zero_shot = evaluateZeroShot(model, tokenizer, tokens, split, vocab, attributes,
                                        visibility, pass_base, ctx);
    ctx.log.info("pretrain zero-shot on ", result.zero_shot.people, " held-out people (",
                 result.zero_shot.images, " images): image->caption R@1 ", result.zero_shot.recall1,
                 ", R@5 ", result.zero_shot.recall5);
    for (const auto& line : describeZeroShot(result.zero_shot)) ctx.log.info(line);
  }
  result.checkpoint = o.out;
  if (rank == 0) {
    const auto parent = std::filesystem::path(o.out).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) throw InputError(parent.string() + ": cannot create the folder of pretrain.out");
    saveClip(model, o.out);
  }
  comm.barrier();
  result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  ctx.log.info("CLIP checkpoint written: ", o.out, " (", result.seconds, " s)");
  return result;
}

}  // namespace agreid::trainer
