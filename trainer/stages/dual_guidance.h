// Stage 2 of AG-ReID (dual guidance, method.md §2.1, §2.3) -- and, with stage2.method =
// "clip-reid", the CLIP-ReID baseline -- trained data-parallel: P x K global batches with whole
// identities per rank (data/samplers.h), the objective of dual_guidance_objective.h, Adam with
// CLIP-ReID's per-tensor parameter groups and warmup + multi-step schedule, gradients averaged by
// the bucketed GradientReducer, checkpoints every N steps or epoch (resumable mid-epoch),
// metrics.jsonl + TensorBoard, and a stop request honoured at the next step boundary.
//
// Writes <out_dir>/model_final.pt (trainer/stages/reid_checkpoint.h) when training completes.
// All ranks must call runDualGuidance() together.
#pragma once

#include <string>

#include "data/options.h"
#include "trainer/options.h"
#include "trainer/stages/pseudo_label_cache.h"
#include "trainer/stages/stage_context.h"
#include "trainer/stages/stage_loop.h"

namespace agreid::trainer {

struct TrainSetup {
  std::string dataset;
  ModelOptions model;
  Stage1Options stage1;  // attribute encoder sizes (they are part of the cache key)
  Stage2Options stage2;
  data::TransformOptions transform;
  data::LoaderOptions loader;
  data::SamplerOptions sampler;
  CheckpointOptions checkpoint;
  EvalOptions eval;  // eval.dataset resolved (run.dataset when not set)
  std::string out_dir;
  uint64_t seed = kDefaultSeed;
  int64_t log_every = kDefaultLogEvery;
  bool bf16 = true;         // autocast on CUDA
  std::string config_toml;  // saved in checkpoints
  ResumeGuards guards;
  std::string init_from;  // a new run starts from this checkpoint's model weights
};

struct TrainResult {
  bool completed = false;  // false: stopped on request (a checkpoint was written)
  std::string model_path;  // model_final.pt when completed
  int64_t steps = 0;
  double images_per_s = 0;
  double seconds = 0;
};

TrainResult runDualGuidance(const TrainSetup& setup, const PseudoLabelCache& cache,
                            StageContext& ctx);

// The path of the final model of a run directory.
std::string finalModelPath(const std::string& out_dir);

}  // namespace agreid::trainer
