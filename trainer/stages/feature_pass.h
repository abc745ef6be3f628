// Distributed inference over a dataset file: every rank runs `encode` over its contiguous shard
// of the requested samples (test transforms: resize + normalise), and the per-sample outputs are
// gathered on every rank in the order of `indices` -- or, with gather = false, kept on the rank
// that encoded them (the pseudo-label stage's feature cache). Used by the pseudo-label stage, by
// `agreid extract` and by evaluation. Progress (rank 0's share: images, rate, ETA) is
// reported through ctx.log under `label`.
//
// All ranks must call it with the same arguments.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <vector>

#include "data/options.h"
#include "trainer/stages/stage_context.h"

namespace agreid::trainer {

struct FeaturePassOptions {
  std::string dataset;           // dataset file
  std::vector<int64_t> indices;  // samples to encode, in output order
  data::TransformOptions transform;
  data::LoaderOptions loader;
  int64_t batch_size = 64;
  std::string label = "features";  // the progress line's label
  // false: return only this rank's shard, rows [r*M/W, (r+1)*M/W) of the M requested samples
  // (ShardedSequentialSampler's split), and gather nothing.
  bool gather = true;
};

// images [b, 3, H, W] on ctx.device, cameras [b] int64 on ctx.device -> features [b, D].
using EncodeFn = std::function<at::Tensor(const at::Tensor& images, const at::Tensor& cameras)>;

// Returns [indices.size(), D] float32 on the CPU, identical on every rank (gather = false: this
// rank's [rows of its shard, D]).
at::Tensor encodeDataset(const FeaturePassOptions& options, const EncodeFn& encode,
                         StageContext& ctx);

}  // namespace agreid::trainer
