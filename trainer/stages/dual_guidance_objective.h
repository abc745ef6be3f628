// The stage-2 objective of AG-ReID (method.md §1.4, §2.1, §2.3), one training step's losses:
//
//   L = w_id (CE_ls(score) + CE_ls(score_proj)) + w_tri (Tri(f_last) + Tri(f) + Tri(f_proj))
//     + w_i2t CE_ls(f_proj T_all^T) + beta L_attrG(E_A(f_proj), V[y]) + w_mem L_memory
//
// `T_all` are the prompt text features of every identity (attribute prompt for AG-ReID, identity
// prompt for CLIP-ReID), `V` the identities' pseudo-label tokens; L_attrG is Otsu-masked on
// occluded data (stage2.mask = "otsu"; percentiles "p50"/"p75"/"p90"; computed per batch or, with
// stage2.threshold_scope = "epoch", from the previous epoch's cosines) or unmasked (gamma = -1).
// L_attrG is a mean over the global batch's images or, as Eq. 14 prints it, a sum
// (stage2.attr_reduction). The terms mask_kept_{occluded,holistic} and mask_tokens_{...} count
// the tokens the mask keeps, and all tokens, of occluded and holistic images (their ratio is the
// kept fraction of each kind). Given each token's true visibility (a dataset with
// /attributes/visibility), mask_kept_visible and mask_tokens_visible count the kept visible
// tokens and the visible tokens: the mask's precision is mask_kept_visible over all kept tokens,
// its recall mask_kept_visible over mask_tokens_visible. stage2.mask = "oracle" keeps exactly
// the visible tokens.
//
// Note [Global-batch losses]: with W ranks, the class-token features of every rank are
// all-gathered with gradient, and the BNNecks, classifiers, triplet mining, i2t and attribute
// guidance run on the GLOBAL batch, identically on every rank. The gather's backward sums each
// rank's identical gradients into the owning rank, and the GradientReducer's average over ranks
// then yields exactly the single-process gradient of the global batch (tested). The memory-bank
// term is the bank's own local-mean loss, which averages to the global loss the same way.
//
// All ranks must call compute() together (it communicates when W > 1).
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "trainer/options.h"

namespace agreid::comm {
class Communicator;
}

namespace agreid::trainer {

class ReidModel;
class AttributeEncoder;
class ContrastiveMemoryBank;

struct ObjectiveTerms {
  at::Tensor total;                          // differentiable scalar
  std::map<std::string, at::Tensor> values;  // each weighted term, detached, for metrics
  at::Tensor gamma;          // attribute-guidance threshold used (0-dim, on the device)
  at::Tensor kept_fraction;  // tokens kept by the mask (0-dim, on the device)
};

// The threshold of a guidance mask choice (stage2.mask) over a set of detached cosines: a 0-dim
// double tensor on their device.
at::Tensor guidanceThreshold(GuidanceMask mask, const at::Tensor& cosines);

class DualGuidanceObjective {
 public:
  // `encoder` may be null (CLIP-ReID, or beta = 0); `bank` may be null (no memory bank).
  DualGuidanceObjective(const Stage2Options& options, ReidModel& model, AttributeEncoder* encoder,
                        at::Tensor text_features, at::Tensor tokens, ContrastiveMemoryBank* bank,
                        comm::Communicator& comm);

  // images [b, 3, H, W], cameras [b], labels [b] (int64), occluded [b] (0/1, may be undefined),
  // this rank's part of the global batch, in training epoch `epoch`; visible [b, r] (0/1, may be
  // undefined unless stage2.mask = "oracle"): is each token's body region visible in the image.
  ObjectiveTerms compute(const at::Tensor& images, const at::Tensor& cameras,
                         const at::Tensor& labels, const at::Tensor& occluded = {},
                         int64_t epoch = 0, const at::Tensor& visible = {});

  // stage2.threshold_scope = "epoch": the threshold in force and the cosines collected in the
  // current epoch, for checkpoints (exact resume); empty under "batch".
  std::map<std::string, at::Tensor> thresholdState() const;
  void restoreThresholdState(const std::map<std::string, at::Tensor>& state);

 private:
  Stage2Options options_;
  ReidModel& model_;
  AttributeEncoder* encoder_;
  at::Tensor text_features_;
  at::Tensor tokens_;
  ContrastiveMemoryBank* bank_;
  comm::Communicator& comm_;
  // threshold_scope = "epoch": gamma computed from the previous epoch's cosines (undefined in the
  // first epoch: the batch's own threshold), the current epoch's cosines (kept on the device),
  // and that epoch's number.
  at::Tensor epoch_gamma_;
  std::vector<at::Tensor> epoch_cosines_;
  int64_t epoch_ = -1;
};

}  // namespace agreid::trainer
