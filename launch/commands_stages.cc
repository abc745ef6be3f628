// agreid pretrain | pseudo-label | train | run: the pipeline's stages as commands. Each reads the
// configuration, starts the job (MPI communicator, device, threads) and writes a small JSON
// summary into run.out_dir next to its outputs.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "launch/commands.h"
#include "launch/config_record.h"
#include "launch/job.h"
#include "launch/signals.h"
#include "trainer/engine/metrics_writers.h"
#include "trainer/eval/results.h"
#include "trainer/model/clip_checkpoint.h"
#include "trainer/model/reid_model.h"
#include "trainer/stages/dual_guidance.h"
#include "trainer/stages/evaluate_model.h"
#include "trainer/stages/pretrain.h"
#include "trainer/stages/pseudo_label.h"
#include "trainer/stages/reid_checkpoint.h"
#include "trainer/util/json.h"

namespace agreid::launch {
namespace {

// Rank 0 writes `text` as run.out_dir/name.
void writeRunFile(const Config& config, const std::string& name, const std::string& text,
                  const Log& log) {
  if (log.rank() != 0) return;
  std::filesystem::create_directories(config.run.out_dir);
  trainer::writeFileAtomically((std::filesystem::path(config.run.out_dir) / name).string(), text);
}

// A stage summary (docs/pipeline.md, "Stage summaries"). Takes only JSON objects: a string would
// silently become a JSON string literal.
void writeSummaryJson(const Config& config, const std::string& name,
                      const trainer::OrderedJson::object_t& summary, const Log& log) {
  writeRunFile(config, name, trainer::jsonText(trainer::OrderedJson(summary), 2) + "\n", log);
}

// The options of the commands that train into a run folder.
std::vector<OptionSpec> runFolderOptions(bool init_from) {
  auto options = configOptions();
  options.push_back({"restart", "",
                     "start the run folder over: remove its checkpoints, final outputs, metrics "
                     "and results, then record this configuration"});
  if (init_from) {
    options.push_back({"init-from", "CHECKPOINT",
                       "start a new run (nothing to resume) from a checkpoint's model weights"});
  }
  return options;
}

// From now on rank 0's log lines (and those written so far) also go to <run.out_dir>/log.txt,
// after a header line naming the command.
void openRunLog(const Config& config, CommandContext& ctx) {
  ctx.log.openFile((std::filesystem::path(config.run.out_dir) / "log.txt").string(),
                   Log::timestamp() + " " + ctx.command_line);
}

// Refuses a run folder that records another configuration (docs/pipeline.md, "Run folders"),
// or clears it with --restart, then records this configuration and opens its log.txt. All ranks.
void prepareRunFolder(const ParsedArgs& args, const Config& config, RunScope scope, Job& job,
                      CommandContext& ctx) {
  const Log& log = ctx.log;
  if (args.has("restart")) {
    if (log.rank() == 0) {
      for (const auto& path : restartPaths(config, scope)) {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
        if (ec) throw InputError(path + ": cannot remove for --restart: " + ec.message());
        log.info("--restart: removed ", path);
      }
    }
    job.comm().barrier();
  } else {
    checkRunFolder(config, scope);
  }
  writeRunFile(config, "config.toml", configToToml(config), log);
  openRunLog(config, ctx);
}

// What every stage checks when it resumes: the checkpoint's recorded configuration.
trainer::ResumeGuards resumeGuards(const Config& config, RunScope scope) {
  trainer::ResumeGuards guards;
  guards.check_config = [config, scope](const std::string& path, const std::string& toml) {
    checkCheckpointConfig(path, toml, config, scope);
  };
  return guards;
}

trainer::PseudoLabelSetup pseudoLabelSetup(const Config& config) {
  trainer::PseudoLabelSetup s;
  s.dataset = config.run.dataset;
  s.model = config.model;
  s.stage1 = config.stage1;
  s.transform = config.transform;
  s.loader = config.loader;
  s.attribute_prompt = config.stage2.method == trainer::ReidMethod::kAgReid;
  s.seed = config.run.seed;
  s.cache_dir = config.stage1.cache_dir;
  s.run_dir = config.run.out_dir;
  s.checkpoint = config.checkpoint;
  // An explicit checkpoint path names a checkpoint of the command's own stage.
  if (s.checkpoint.resume != "none") s.checkpoint.resume = "auto";
  s.log_every = config.run.log_every;
  s.config_toml = configToToml(config);
  s.guards = resumeGuards(config, RunScope::kTraining);
  return s;
}

// The message and exit code of a stage that stopped on request.
int stoppedOnRequest(const std::string& stage, int64_t steps, const Log& log) {
  log.info(stage, " stopped on request (signal ", stopSignal(), ") after step ", steps,
           "; checkpoint written, exiting with ", kExitRequeue, " for requeue");
  return kExitRequeue;
}

trainer::PseudoLabelResult runPseudoLabelStage(const Config& config, Job& job, const Log& log) {
  // Weights that cannot be used fail here, before any stage work (and before a cache hit hides
  // them until stage 2).
  if (!config.model.weights.empty()) trainer::checkClipWeights(config.model.weights);
  const auto result = trainer::obtainPseudoLabels(pseudoLabelSetup(config), job.stage());
  if (!result.completed) return result;
  writeSummaryJson(config, "pseudo_label.json",
                   {{"cache", result.path},
                    {"cache_hit", result.cache_hit},
                    {"seconds", result.seconds},
                    {"caching_images_per_s", result.caching_images_per_s},
                    {"readout_accuracy", result.readout_accuracy},
                    {"image_readout_accuracy", result.image_readout_accuracy},
                    {"probe_attributes", result.probe.attributes.size()},
                    {"probe_own_block_best", trainer::diagonalWins(result.probe)}},
                   log);
  return result;
}

int runPretrainCommand(const ParsedArgs& args, CommandContext& ctx) {
  Config config = configFromArgs(args);
  Job job(ctx, config);
  prepareRunFolder(args, config, RunScope::kPretrain, job, ctx);
  trainer::PretrainSetup setup;
  setup.pretrain = config.pretrain;
  setup.arch = config.clip;
  setup.vocab = config.model.vocab;
  setup.readout_vocabulary = config.stage1.attribute_vocabulary;
  setup.transform = config.transform;
  setup.loader = config.loader;
  setup.seed = config.run.seed;
  setup.log_every = config.run.log_every;
  setup.run_dir = config.run.out_dir;
  setup.checkpoint = config.checkpoint;
  setup.config_toml = configToToml(config);
  setup.guards = resumeGuards(config, RunScope::kPretrain);
  const auto r = trainer::runPretrain(setup, job.stage());
  if (!r.completed) return stoppedOnRequest("pretraining", r.steps, ctx.log);
  const trainer::ZeroShotReport& z = r.zero_shot;
  trainer::OrderedJson::object_t zero_shot;
  for (const auto& a : z.attributes) {
    zero_shot[a.name] = trainer::OrderedJson::object_t{{"accuracy", a.accuracy},
                                                       {"majority", a.majority},
                                                       {"values", a.values},
                                                       {"images", a.images}};
    if (a.visible_accuracy >= 0) {
      zero_shot[a.name]["visible_accuracy"] = a.visible_accuracy;
      zero_shot[a.name]["visible_majority"] = a.visible_majority;
      zero_shot[a.name]["visible_images"] = a.visible_images;
    }
  }
  writeSummaryJson(config, "pretrain.json",
                   {{"checkpoint", r.checkpoint},
                    {"steps", r.steps},
                    {"first_loss", r.first_loss},
                    {"final_loss", r.final_loss},
                    {"images_per_s", r.images_per_s},
                    {"holdout_people", z.people},
                    {"holdout_images", z.images},
                    {"recall1", z.recall1},
                    {"recall5", z.recall5},
                    {"colour_accuracy", z.colour_accuracy},
                    {"colour_majority", z.colour_majority},
                    {"colour_visible_accuracy", z.colour_visible_accuracy},
                    {"colour_visible_majority", z.colour_visible_majority},
                    {"zero_shot", zero_shot},
                    {"seconds", r.seconds}},
                   ctx.log);
  return 0;
}

int runPseudoLabelCommand(const ParsedArgs& args, CommandContext& ctx) {
  Config config = configFromArgs(args);
  Job job(ctx, config);
  openRunLog(config, ctx);
  const auto pl = runPseudoLabelStage(config, job, ctx.log);
  return pl.completed ? 0 : stoppedOnRequest("stage 1", pl.steps, ctx.log);
}

}  // namespace

CommandSpec pretrainCommand() {
  CommandSpec spec;
  spec.name = "pretrain";
  spec.summary = "CLIP image-text contrastive pretraining on a captioned dataset file.";
  spec.usage = "agreid pretrain --config FILE [--set section.key=value ...] [--restart]";
  spec.details =
      "Trains a CLIP of the [clip] architecture on pretrain.data (symmetric InfoNCE over the\n"
      "global batch, learnable temperature, warmup + cosine), writes pretrain.out (default\n"
      "<run.out_dir>/clip.pt) and reports, on pretrain.holdout held-out people, zero-shot\n"
      "attribute accuracy next to the majority baseline and image->caption Recall@1/5.\n"
      "Checkpoints: <run.out_dir>/checkpoints/pretrain (resumed automatically); SIGUSR1/SIGTERM:\n"
      "checkpoint and exit 75 without writing pretrain.out. A folder recording another\n"
      "pretraining configuration (config.toml) is refused; --restart clears it. Run under mpiexec\n"
      "for several ranks.";
  spec.options = runFolderOptions(false);
  spec.uses_mpi = true;
  spec.run = &runPretrainCommand;
  return spec;
}

CommandSpec pseudoLabelCommand() {
  CommandSpec spec;
  spec.name = "pseudo-label";
  spec.summary = "Stage 1: learn identity attribute tokens and the attribute encoder (cached).";
  spec.usage = "agreid pseudo-label --config FILE [--set section.key=value ...]";
  spec.details =
      "Encodes the training images of run.dataset with model.weights (each rank its shard),\n"
      "learns the identity prompt tokens V and the attribute encoder, and writes the pseudo-label\n"
      "cache into stage1.cache_dir under a key of the weights, dataset, template and settings. A\n"
      "cache with the same key is reused instead of recomputed.";
  spec.options = configOptions();
  spec.uses_mpi = true;
  spec.run = &runPseudoLabelCommand;
  return spec;
}

}  // namespace agreid::launch

namespace agreid::launch {
namespace {

// Returns kExitRequeue when training stopped on request.
int trainStage(const ParsedArgs& args, const Config& config, Job& job,
               const trainer::PseudoLabelCache& cache, const Log& log) {
  trainer::TrainSetup setup = trainSetup(config);
  setup.init_from = args.get("init-from");
  const auto r = trainer::runDualGuidance(setup, cache, job.stage());
  writeSummaryJson(config, "train.json",
                   {{"completed", r.completed},
                    {"model", r.model_path},
                    {"steps", r.steps},
                    {"images_per_s", r.images_per_s},
                    {"seconds", r.seconds}},
                   log);
  if (!r.completed) return stoppedOnRequest("stage 2", r.steps, log);
  log.info("stage 2 done: ", r.steps, " steps, ", r.images_per_s, " images/s, model ",
           r.model_path);
  return 0;
}

// The steps stage 2 trained the run folder's model for (train.json; 0 when unknown).
int64_t trainedSteps(const Config& config) {
  const std::string path = (std::filesystem::path(config.run.out_dir) / "train.json").string();
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.empty()) return 0;
  const trainer::Json json = trainer::parseJson(text, path);
  const trainer::Json* steps = trainer::jsonMember(json, "steps");
  return steps != nullptr ? trainer::jsonInt64(*steps).value_or(0) : 0;
}

// Evaluates the run folder's model: results.json, cmc.svg, ranked/, and an "eval" record at the
// trained step in metrics.jsonl and TensorBoard.
void evalStage(const Config& config, Job& job, const std::string& checkpoint, const Log& log) {
  auto model = trainer::loadReidCheckpoint(checkpoint);
  trainer::ModelEvalSetup es;
  es.dataset = config.eval.dataset;
  es.transform = config.transform;
  es.loader = config.loader;
  es.eval = config.eval;
  es.out_dir = config.run.out_dir;
  es.weights = checkpoint;
  const auto results = trainer::evaluateModel(*model, es, job.stage());
  if (log.rank() == 0) {
    const int64_t step = trainedSteps(config);
    trainer::RunMetrics metrics(config.run.out_dir, log.rank());
    metrics.write(trainer::evalMetricsRecord(step, -1, results), step,
                  trainer::evalMetricsScalars(results));
  }
  log.info("evaluation of ", checkpoint, " on ", es.dataset, "\n",
           trainer::resultsMarkdown(results));
  log.info("results in ", config.run.out_dir, "/results.json");
}

int runTrainCommand(const ParsedArgs& args, CommandContext& ctx) {
  Config config = configFromArgs(args);
  Job job(ctx, config);
  prepareRunFolder(args, config, RunScope::kTraining, job, ctx);
  const auto pl = runPseudoLabelStage(config, job, ctx.log);
  if (!pl.completed) return stoppedOnRequest("stage 1", pl.steps, ctx.log);
  return trainStage(args, config, job, pl.cache, ctx.log);
}

int runRunCommand(const ParsedArgs& args, CommandContext& ctx) {
  Config config = configFromArgs(args);
  Job job(ctx, config);
  prepareRunFolder(args, config, RunScope::kTraining, job, ctx);
  const auto pl = runPseudoLabelStage(config, job, ctx.log);
  if (!pl.completed) return stoppedOnRequest("stage 1", pl.steps, ctx.log);
  const std::string model = trainer::finalModelPath(config.run.out_dir);
  if (std::filesystem::exists(model) && trainer::isReidCheckpoint(model)) {
    ctx.log.info("stage 2 already done: ", model, " exists; skipping training");
  } else {
    const int code = trainStage(args, config, job, pl.cache, ctx.log);
    if (code != 0) return code;
  }
  evalStage(config, job, model, ctx.log);
  return 0;
}

}  // namespace

CommandSpec trainCommand() {
  CommandSpec spec;
  spec.name = "train";
  spec.summary = "Stage 2: dual-guidance training (AG-ReID) or the CLIP-ReID baseline.";
  spec.usage =
      "agreid train --config FILE [--set section.key=value ...] [--restart] [--init-from CKPT]";
  spec.details =
      "Obtains the pseudo-label cache (computing it when missing), then trains the re-ID model\n"
      "on run.dataset with stage2.method. Checkpoints go to <run.out_dir>/checkpoints and\n"
      "training resumes from the latest one (checkpoint.resume = \"auto\"). SIGUSR1/SIGTERM:\n"
      "checkpoint at the next step and exit with code 75. The final model is\n"
      "<run.out_dir>/model_final.pt. The folder records its configuration (config.toml): a\n"
      "configuration that differs in a key affecting the result is refused (--restart clears\n"
      "the folder); --init-from CKPT starts a new run from another run's checkpoint weights.";
  spec.options = runFolderOptions(true);
  spec.uses_mpi = true;
  spec.run = &runTrainCommand;
  return spec;
}

CommandSpec runCommand() {
  CommandSpec spec;
  spec.name = "run";
  spec.summary = "pseudo-label -> train -> eval in one command, skipping finished stages.";
  spec.usage =
      "agreid run --config FILE [--set section.key=value ...] [--restart] [--init-from CKPT]";
  spec.details =
      "What the SLURM scripts call. A pseudo-label cache with the same key is reused, a finished\n"
      "model (<run.out_dir>/model_final.pt) is not retrained, and an interrupted training resumes\n"
      "from its latest checkpoint. Results: <run.out_dir>/results.json, cmc.svg, ranked/. A "
      "folder\n"
      "recording another configuration (config.toml) is refused; --restart clears it.";
  spec.options = runFolderOptions(true);
  spec.uses_mpi = true;
  spec.run = &runRunCommand;
  return spec;
}

trainer::TrainSetup trainSetup(const Config& config) {
  trainer::TrainSetup s;
  s.dataset = config.run.dataset;
  s.model = config.model;
  s.stage1 = config.stage1;
  s.stage2 = config.stage2;
  s.transform = config.transform;
  s.loader = config.loader;
  s.sampler = config.sampler;
  s.checkpoint = config.checkpoint;
  s.eval = config.eval;
  s.out_dir = config.run.out_dir;
  s.seed = config.run.seed;
  s.log_every = config.run.log_every;
  s.bf16 = config.run.bf16;
  s.config_toml = configToToml(config);
  s.guards = resumeGuards(config, RunScope::kTraining);
  return s;
}

}  // namespace agreid::launch
