// Stage 1 of AG-ReID (method.md §1.3, §2.1, §2.3), distributed, with a shared cache.
//
//  1. Feature caching: each rank encodes its shard of the training images with test transforms
//     and keeps the projected class-token features of its shard (O(N/W) per rank).
//  2. Learning (stage1_learning.h): per identity, r prompt tokens V (the pseudo-label) in CLIP's
//     word-embedding space, with SupCon image<->text over the global batch (each rank draws its
//     share from its shard: stage1_batches.h), and (attribute prompt) the attribute encoder E_A
//     aligned to V by cosine (lambda). Image and text towers stay frozen. It runs on the Engine
//     (stage_loop.h): checkpoints in <run_dir>/checkpoints/stage1 (they carry the cache key;
//     resume is exact), metrics.jsonl (stage "stage1"), a stop agreed by all ranks.
//  3. The prompt text features and the image centre of every identity, and an attribute readout
//     (zero-shot discrete attributes per identity) for auditing the pseudo-labels.
//
// The result is written to the pseudo-label cache (trainer/stages/pseudo_label_cache.h); a run
// whose key matches reads it instead. A stop request during step 2 returns completed = false and
// writes no cache. All ranks must call obtainPseudoLabels() together.
#pragma once

#include <string>

#include "data/options.h"
#include "trainer/options.h"
#include "trainer/stages/attribute_tokens.h"
#include "trainer/stages/pseudo_label_cache.h"
#include "trainer/stages/stage_context.h"
#include "trainer/stages/stage_loop.h"

namespace agreid::trainer {

struct PseudoLabelSetup {
  std::string dataset;  // re-ID dataset file with a train split
  ModelOptions model;
  Stage1Options stage1;
  data::TransformOptions transform;  // image size and normalisation of the feature pass
  data::LoaderOptions loader;
  bool attribute_prompt = true;  // AG-ReID: stage1.template + E_A. false: CLIP-ReID prompt only
  uint64_t seed = kDefaultSeed;
  std::string cache_dir;
  // Training loop (not part of the cache key):
  std::string run_dir;           // metrics.jsonl, tensorboard/ and checkpoints/stage1
  CheckpointOptions checkpoint;  // resume: "auto" or "none"
  int64_t log_every = kDefaultLogEvery;
  std::string config_toml;  // recorded in checkpoints
  ResumeGuards guards;
};

struct PseudoLabelResult {
  bool completed = true;  // false: stage 1 stopped on request (checkpoint written, no cache)
  PseudoLabelCache cache;
  int64_t steps = 0;  // stage-1 steps done (0 on a cache hit)
  std::string path;
  bool cache_hit = false;
  double seconds = 0;                  // wall time of this call
  double caching_images_per_s = 0;     // feature caching throughput (0 on a cache hit)
  double readout_accuracy = -1;        // pseudo-label attribute readout vs ground truth (-1: none)
  double image_readout_accuracy = -1;  // zero-shot readout from image features (-1: none)
  TokenProbe probe;                    // token-block probe (empty: no stored attributes)
};

PseudoLabelResult obtainPseudoLabels(const PseudoLabelSetup& setup, StageContext& ctx);

// <run_dir>/checkpoints/stage1: where stage 1 keeps its checkpoints.
std::string stage1CheckpointDir(const std::string& run_dir);

// The key of the cache obtainPseudoLabels() would use (hashes the weights file).
std::string pseudoLabelKey(const PseudoLabelSetup& setup, const std::string& dataset_checksum);

}  // namespace agreid::trainer
