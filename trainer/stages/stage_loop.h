// How every training stage -- CLIP pretraining, stage 1 (prompt learning), stage 2 -- runs: the
// stage describes itself as StageParts (the Engine's options, a step function that owns its data
// source, what a checkpoint holds, and its own hooks such as the learning-rate schedule), and
// runStageLoop() adds what all stages share: metrics.jsonl + TensorBoard + progress
// (MetricsHook), periodic checkpoints and one on a stop request (CheckpointHook), resume from
// the stage's checkpoint folder, and the stop request agreed by all ranks (Engine).
//
// A stopped stage returns RunStatus::kStopped after its checkpoint; the caller must then NOT write
// the stage's final output (the command exits with kExitRequeue). All ranks call it together.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "trainer/engine/checkpointer.h"
#include "trainer/engine/engine.h"
#include "trainer/engine/metrics_writers.h"
#include "trainer/options.h"
#include "trainer/stages/stage_context.h"

namespace agreid::trainer {

// Checks launch/ adds to every stage's resume (they need the whole configuration).
struct ResumeGuards {
  // Called with a resumed checkpoint's path and its recorded configuration; throws InputError
  // when it does not fit this run. May be empty.
  std::function<void(const std::string& path, const std::string& config_toml)> check_config;
};

struct StageLoopOptions {
  std::string tag = "train";   // metrics tag (TensorBoard "<tag>/loss", metrics.jsonl "stage")
  std::string checkpoint_dir;  // checkpoint-<step>.pt and latest
  int64_t keep_last = 3;
  int64_t checkpoint_every = 0;  // steps; 0: after every epoch
  std::string resume = "auto";   // "auto" | "none" | a checkpoint path
  int64_t log_every = kDefaultLogEvery;
  std::string config_toml;   // recorded in every checkpoint
  std::string cache_key;     // recorded; a checkpoint with another key is refused
  int64_t global_batch = 0;  // recorded; resuming with another global batch is refused
  // Weights only: a new run (nothing to resume) starts from this checkpoint's model tensors.
  std::string init_from;
  ResumeGuards guards;
};

struct StageParts {
  EngineOptions engine;  // steps per epoch, epochs, the stage's name for messages
  StepFunction step;
  // The model, optimiser and extra tensors of a checkpoint (config and key come from the
  // options). Called on every rank before each save and before a load.
  std::function<CheckpointContents()> contents;
  // Restores what the model and optimiser do not hold (extra tensors); may be empty.
  std::function<void(const LoadedCheckpoint&)> restore;
  std::vector<std::unique_ptr<TrainHook>> hooks;        // run before metrics and checkpoints
  std::vector<std::unique_ptr<TrainHook>> after_hooks;  // run after them (evaluation)
};

struct StageOutcome {
  RunStatus status = RunStatus::kCompleted;
  TrainState state;        // the final position and the last loss window
  int64_t start_step = 0;  // where this call started (> 0 after a resume)
  double train_seconds = 0;
};

// `metrics`: the run folder's metric files (training records; the stage's own evaluation hooks
// write theirs through the same object). Progress goes to ctx.log.
StageOutcome runStageLoop(const StageLoopOptions& opts, StageParts parts, RunMetrics& metrics,
                          StageContext& ctx);

// The options from a setup's run.* and checkpoint.* settings.
StageLoopOptions stageLoopOptions(const std::string& tag, const std::string& checkpoint_dir,
                                  const CheckpointOptions& checkpoint, int64_t log_every,
                                  const std::string& config_toml, const ResumeGuards& guards);

// StageParts::contents for a stage whose checkpoint is a model and its optimiser (both must
// outlive the returned function).
std::function<CheckpointContents()> modelAndOptimizer(torch::nn::Module& model,
                                                      torch::optim::Optimizer& optimizer);

}  // namespace agreid::trainer
