// The stage-1 objective of one step (method.md §1.3, §2.3), shared by `agreid pseudo-label`
// (trainer/stages/pseudo_label.cc) and bench/stage1_bench.cc:
//
//   L = SupCon(img -> text) + SupCon(text -> img)   over the global batch (every rank the same)
//     + lambda_attr * L_attrA(E_A(img), sg(V))      over this rank's slice, scaled so that the
//                                                   average over ranks is the global batch's
//
// The batch's distinct labels are shared out evenly over the ranks; each rank encodes the prompts
// of its share and all-gathers them with gradient (a label in both ranks' slices is encoded once,
// and every rank encodes as many prompts). E_A runs on the rank's slice [lo, hi) of the images.
// The towers are frozen: the prompt tokens V (through the text tower) and E_A are the only things
// with a gradient. Every rank calls these
// in the same order (collectives). Not thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "trainer/options.h"

namespace agreid::comm {
class Communicator;
}  // namespace agreid::comm

namespace agreid::trainer {

class AttributeEncoder;
class PromptLearner;
class TextTransformer;

struct Stage1ObjectiveOptions {
  double lambda_attr = 1.0;  // weight of L_attrA (<= 0: not computed)
  AttrReduction attr_reduction = AttrReduction::kMean;
  bool joint = false;  // V gets L_attrA's gradient too

  static Stage1ObjectiveOptions fromConfig(const Stage1Options& stage1);
};

// One step's global batch: every rank holds the same one.
struct Stage1Batch {
  at::Tensor features;     // [count, D] cached image features (device)
  at::Tensor labels;       // [count] int64 (device)
  at::Tensor host_labels;  // [count] int64, the same labels in host memory
};

// This rank's slice [lo, hi) of a global batch of `count` over `world` ranks.
struct Stage1Slice {
  int64_t lo = 0, hi = 0;
};
Stage1Slice stage1Slice(int64_t count, int rank, int world);

// The text features [count, embed] of the batch's prompts in batch order: this rank's share of
// the distinct labels encoded (found on the host, as their number sizes a tensor) and
// all-gathered with gradient. Every rank gets the same features.
at::Tensor stage1TextFeatures(const Stage1Batch& batch, const PromptLearner& learner,
                              const TextTransformer& text, comm::Communicator& comm);

// SupCon image <-> text over the global batch.
at::Tensor stage1SupCon(const Stage1Batch& batch, const at::Tensor& text_features);

// lambda-free L_attrA of this rank's slice, scaled so that the mean over ranks is the global
// batch's mean (or sum); 0 for an empty slice.
at::Tensor stage1Alignment(const Stage1Batch& batch, const PromptLearner& learner,
                           const AttributeEncoder& encoder, const Stage1ObjectiveOptions& options,
                           int rank, int world);

struct Stage1Terms {
  at::Tensor loss;    // supcon + lambda_attr * attr
  at::Tensor supcon;  // detached
  at::Tensor attr;    // detached; undefined without an encoder or with lambda_attr <= 0
};

// The whole objective; `encoder` may be null (CLIP-ReID's identity prompt).
Stage1Terms stage1Objective(const Stage1Batch& batch, const PromptLearner& learner,
                            const TextTransformer& text, const AttributeEncoder* encoder,
                            const Stage1ObjectiveOptions& options, comm::Communicator& comm);

}  // namespace agreid::trainer
