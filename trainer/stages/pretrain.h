// CLIP image-text contrastive pretraining on a captioned dataset file (design.md §4.4): symmetric
// InfoNCE over the global batch (features all-gathered with gradient), learnable temperature,
// AdamW with linear warmup then cosine decay per step, gradients averaged over ranks. Writes a
// CLIP checkpoint that every later stage loads exactly like OpenAI's, and reports zero-shot
// image->caption retrieval (Recall@1/5) on held-out pairs.
//
// All ranks must call runPretrain() together.
#pragma once

#include <string>

#include "data/options.h"
#include "trainer/options.h"
#include "trainer/stages/stage_context.h"

namespace agreid::trainer {

struct PretrainSetup {
  PretrainOptions pretrain;
  ClipArchOptions arch;
  std::string vocab;
  data::TransformOptions transform;  // mean/std and flip; the size comes from `arch`
  data::LoaderOptions loader;
  uint64_t seed = 1234;
  int64_t log_every = 10;
  std::string metrics_dir;  // metrics.jsonl and TensorBoard events go here (rank 0)
};

struct PretrainResult {
  std::string checkpoint;
  int64_t steps = 0;
  double first_loss = 0;
  double final_loss = 0;
  double images_per_s = 0;  // global
  int64_t holdout = 0;
  double recall1 = 0;  // image -> caption among the held-out pairs
  double recall5 = 0;
  double seconds = 0;
};

PretrainResult runPretrain(const PretrainSetup& setup, StageContext& ctx);

}  // namespace agreid::trainer
