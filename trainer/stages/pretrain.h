// CLIP image-text contrastive pretraining on a captioned dataset file (design.md §4.4): symmetric
// InfoNCE over the global batch (features all-gathered with gradient), learnable temperature,
// AdamW with linear warmup then cosine decay per step, gradients averaged over ranks, on the
// Engine (stage_loop.h): checkpoints in <run_dir>/checkpoints/pretrain with exact resume,
// metrics.jsonl (stage "pretrain") + TensorBoard, and a stop request agreed by all ranks. When
// training completes it writes a CLIP checkpoint that every later stage loads exactly like
// OpenAI's, and reports zero-shot attribute accuracy (with the majority baseline) and
// image->caption retrieval (Recall@1/5) on held-out people (zero_shot.h); a stopped run writes
// neither (result.completed is false).
//
// All ranks must call runPretrain() together.
#pragma once

#include <string>

#include "data/options.h"
#include "trainer/options.h"
#include "trainer/stages/stage_context.h"
#include "trainer/stages/stage_loop.h"
#include "trainer/stages/zero_shot.h"

namespace agreid::trainer {

struct PretrainSetup {
  PretrainOptions pretrain;
  ClipArchOptions arch;
  std::string vocab;
  // Zero-shot readout prompts ("group: template with {}|value|...", as
  // stage1.attribute_vocabulary); empty: the synthetic world's prompts when the dataset stores its
  // attributes.
  std::vector<std::string> readout_vocabulary;
  data::TransformOptions transform;  // mean/std and flip; the size comes from `arch`
  data::LoaderOptions loader;
  uint64_t seed = kDefaultSeed;
  int64_t log_every = kDefaultLogEvery;
  std::string run_dir;  // metrics.jsonl, tensorboard/ (rank 0) and checkpoints/pretrain
  CheckpointOptions checkpoint;
  std::string config_toml;  // recorded in checkpoints
  ResumeGuards guards;
};

struct PretrainResult {
  bool completed = false;  // false: stopped on request after a checkpoint; no CLIP file written
  std::string checkpoint;  // pretrain.out when completed
  int64_t steps = 0;
  double first_loss = 0;     // loss of the first step of this call
  double final_loss = 0;     // mean loss of the last logged window
  double images_per_s = 0;   // global
  ZeroShotReport zero_shot;  // on the held-out people (pretrain.holdout of them)
  double seconds = 0;
};

PretrainResult runPretrain(const PretrainSetup& setup, StageContext& ctx);

// <run_dir>/checkpoints/pretrain: where pretraining keeps its checkpoints.
std::string pretrainCheckpointDir(const std::string& run_dir);

}  // namespace agreid::trainer
