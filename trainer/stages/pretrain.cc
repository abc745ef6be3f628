#include "trainer/stages/pretrain.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>

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
#include "trainer/stages/epoch_loader.h"
#include "trainer/stages/feature_pass.h"
#include "trainer/stages/stage_loop.h"

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

// Image -> text Recall@1 and @5: image i's own caption is text i.
std::pair<double, double> retrievalRecall(const at::Tensor& image, const at::Tensor& text) {
  const at::Tensor i = image / image.norm(2, 1, true).clamp_min(1e-12);
  const at::Tensor t = text / text.norm(2, 1, true).clamp_min(1e-12);
  const at::Tensor sim = at::mm(i, t.t());
  const int64_t n = sim.size(0);
  const at::Tensor own = sim.diagonal().unsqueeze(1);
  // Rank of the own caption = number of captions scoring strictly higher.
  const at::Tensor rank = sim.gt(own).sum(1);
  return {rank.lt(1).sum().item<double>() / n, rank.lt(5).sum().item<double>() / n};
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
  std::vector<int64_t> all;
  at::Tensor tokens;
  {
    data::DatasetReader reader(o.data);
    if (!reader.info().has_captions) throw InputError(o.data + ": the dataset has no captions");
    const int64_t n = reader.size();
    tokens = torch::zeros({n, arch.context_length}, torch::kLong);
    TokenizeOptions topts;
    topts.context_length = arch.context_length;
    topts.truncate = true;
    for (int64_t i = 0; i < n; ++i) {
      const auto ids = tokenizer.tokenize(reader.caption(i), topts);
      tokens[i].copy_(torch::tensor(ids, torch::kLong));
    }
  }
  const int64_t n = tokens.size(0);
  auto split_gen = at::detail::createCPUGenerator(setup.seed);
  const at::Tensor perm = at::randperm(n, split_gen, at::TensorOptions().dtype(at::kLong));
  const int64_t holdout = std::min<int64_t>(o.holdout, n / 5);
  const at::Tensor holdout_idx = std::get<0>(perm.slice(0, n - holdout).sort());
  const at::Tensor train_idx = perm.slice(0, 0, n - holdout);
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
  eo.steps_per_epoch = num_train / o.batch_size;
  eo.max_epochs = (o.steps + eo.steps_per_epoch - 1) / eo.steps_per_epoch;
  eo.max_steps = o.steps;
  // Epoch e visits the training pairs in a permutation of its own; rank r takes its slice of
  // every global batch.
  EpochLoader loader(o.data, setup.loader, [&](int64_t epoch) {
    auto gen = at::detail::createCPUGenerator(setup.seed * 7919ULL + static_cast<uint64_t>(epoch));
    const at::Tensor order = train_idx.index_select(
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
    const at::Tensor ids = tokens.index_select(0, batch.index).to(ctx.device, true);
    const at::Tensor image_features = model.visual->forward(images).f_proj;
    const at::Tensor text_features = model.text->forward(ids);
    const at::Tensor loss =
        clipContrastiveLoss(image_features, text_features, model.logit_scale, comm);
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

  // Zero-shot retrieval on the held-out pairs.
  model.eval();
  result.holdout = holdout;
  if (holdout > 0) {
    FeaturePassOptions pass;
    pass.dataset = o.data;
    pass.indices.assign(holdout_idx.data_ptr<int64_t>(), holdout_idx.data_ptr<int64_t>() + holdout);
    pass.transform = transform;
    pass.loader = setup.loader;
    pass.label = "pretrain holdout";
    const at::Tensor image = encodeDataset(
        pass,
        [&](const at::Tensor& x, const at::Tensor&) { return model.visual->forward(x).f_proj; },
        ctx);
    torch::NoGradGuard g;
    const at::Tensor text =
        model.text->forward(tokens.index_select(0, holdout_idx).to(ctx.device)).to(torch::kCPU);
    std::tie(result.recall1, result.recall5) = retrievalRecall(image, text);
    ctx.log.info("pretrain zero-shot retrieval on ", holdout,
                 " held-out pairs: image->caption R@1 ", result.recall1, ", R@5 ", result.recall5);
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
