// Stage 1's learning loop (pseudo_label.h, step 2) on features that are already cached: per
// identity, r prompt tokens V in CLIP's word-embedding space, with SupCon image<->text over the
// global batch, and (attribute prompt) the attribute encoder E_A aligned to V by cosine. The text
// tower stays frozen. Each rank keeps its shard of the features; every step gathers only the global
// batch's rows (stage1_batches.h says which). It runs on the Engine (stage_loop.h): checkpoints in
// <run_dir>/checkpoints/stage1 (they carry the cache key; resume is exact), metrics.jsonl (stage
// "stage1"), a stop agreed by all ranks.
//
// obtainPseudoLabels() calls it after the feature pass; bench/stage1_scaling_bench.cc feeds it
// synthetic features. All ranks call it together.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <memory>
#include <string>

#include "trainer/model/attribute_encoder.h"
#include "trainer/model/prompt_learner.h"
#include "trainer/model/text_transformer.h"
#include "trainer/stages/pseudo_label.h"
#include "trainer/stages/stage_context.h"
#include "trainer/stages/stage_loop.h"

namespace agreid::trainer {

// This rank's shard of the cached image features stage 1 learns from: rows
// [r*N/W, (r+1)*N/W) of the training set (stage1_batches.h), as the feature pass leaves them.
struct Stage1Features {
  at::Tensor features;  // [rows of the shard, D] cached image features (device)
  at::Tensor labels;    // [rows of the shard] int64 training labels (device)
  int64_t total = 0;    // N: the training images over all ranks
};

// What stage 1 trains, under one name space for its checkpoints.
struct Stage1Modules : torch::nn::Module {
  // `enc` may be null (CLIP-ReID's identity prompt).
  Stage1Modules(std::shared_ptr<PromptLearner> prompt, std::shared_ptr<AttributeEncoder> enc) {
    learner = register_module("learner", std::move(prompt));
    if (enc) encoder = register_module("encoder", std::move(enc));
  }
  std::shared_ptr<PromptLearner> learner;
  std::shared_ptr<AttributeEncoder> encoder;
};

struct Stage1LearnOptions {
  std::string key;        // the cache key, recorded in checkpoints
  int64_t max_steps = 0;  // > 0: end after this many steps (benchmarks); 0: all epochs
};

// Learns `trained` from `setup`'s stage1 options, seed and loop settings (run_dir, checkpoint,
// log_every, config_toml, guards); the outcome says whether a stop request ended it (after a
// checkpoint).
StageOutcome learnPseudoLabelTokens(const PseudoLabelSetup& setup,
                                    const Stage1LearnOptions& options, const Stage1Features& data,
                                    const TextTransformer& text, Stage1Modules& trained,
                                    StageContext& ctx);

}  // namespace agreid::trainer
