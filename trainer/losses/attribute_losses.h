// AG-ReID attribute losses (method.md §2.1, §2.3): alignment of the attribute encoder's tokens
// with the identity's pseudo-label tokens (stage 1), and the Otsu-masked attribute guidance
// (stage 2).
//
// Pure functions: thread-safe, no communication. Tokens are [B, r, D]: row i holds the r predicted
// tokens a_i (attribute encoder) or the r pseudo-label tokens v_i = ctx[y_i] of sample i.
#pragma once

#include <ATen/core/Tensor.h>

#include "trainer/options.h"

namespace agreid::trainer {

// cos(a_ij, v_ij) over the last dimension: [B, r] (torch's cosine_similarity, eps 1e-8).
at::Tensor tokenCosine(const at::Tensor& predicted, const at::Tensor& targets);

// AttrReduction (trainer/options.h): how the attribute losses reduce over the n images of a batch
// (always a mean over the r tokens): kMean -(1/n) sum_i (1/r) sum_j ..., independent of the batch
// size; kSum -sum_i (1/r) sum_j ..., Eq. 8 / Eq. 14 as printed (the weight grows with the batch).

struct AlignmentOptions {
  AttrReduction reduction = AttrReduction::kMean;
  // false: the targets are detached (sg(v)): only `predicted` gets a gradient. true: Eq. 9 read
  // as joint training: the targets (the pseudo-label tokens V) get L_attrA's gradient too.
  bool joint = false;
};

// L_attrA = -reduce_i mean_j cos(a_ij, v_ij) (Eq. 8), v detached unless opts.joint.
at::Tensor attributeAlignmentLoss(const at::Tensor& predicted, const at::Tensor& targets,
                                  const AlignmentOptions& opts = {});

// Otsu's threshold of `values` (any shape, read as doubles): a 256-bin histogram on [-1, 1]
// (bin k = [-1 + k h, -1 + (k+1) h), h = 2/256, values outside clamped into the end bins); for
// every split after bin k (k = 0..254) the between-class variance w0 w1 (mu0 - mu1)^2 with the
// class means taken over bin centres; returns the centre of the bin k that maximises it (the
// first on ties), as skimage.filters.threshold_otsu does. Values above it form the upper class.
// Computed with tensor operations on the values' device (a 0-dim double tensor there): a step
// that masks by it never waits for the device.
at::Tensor otsuThreshold(const at::Tensor& values);

// The threshold gamma of the noise mask D_ij = [cos(a_ij, v_ij) > gamma] (Eq. 13), by
// GuidanceMask (trainer/options.h, stage2.mask): kOtsu, otsuThreshold(detached cosines), for
// occluded training sets; kNone, gamma = -1 and every token counts, cos = -1 included (holistic
// sets); kP50/kP75/kP90, that percentile of the detached cosines (Table 6).

struct AttributeGuidanceOptions {
  GuidanceMask mask = GuidanceMask::kOtsu;
  // When defined (a 0-dim tensor), used as gamma instead of computing it from this batch (a
  // threshold computed over a whole epoch, stage2.threshold_scope = "epoch").
  at::Tensor fixed_gamma;
  AttrReduction reduction = AttrReduction::kMean;
  // GuidanceMask::kOracle: the tokens to keep, [B, r] 0/1 (the true visibility of each token's
  // body region); gamma is then -1.
  at::Tensor oracle_keep;
};

// The percentile of a mask (50, 75, 90), or -1 for kOtsu / kNone.
double maskPercentile(GuidanceMask mask);

// The q-th percentile of `values` (linear interpolation between order statistics, as
// numpy.percentile's default), as a 0-dim double tensor on the values' device.
at::Tensor percentileThreshold(const at::Tensor& values, double q);

struct AttributeGuidance {
  at::Tensor loss;           // scalar, differentiable
  at::Tensor gamma;          // threshold used (0-dim double, on the cosines' device)
  at::Tensor kept_fraction;  // fraction of tokens with D_ij = 1 (0-dim double)
  at::Tensor keep;           // [B, r] D_ij (float, detached)
  at::Tensor cosine;         // [B, r] cos(a_ij, v_ij) (detached)
};

// L_attrG = -reduce_i (1/r) sum_j D_ij cos(a_ij, v_ij) with D_ij = [cos(a_ij, v_ij) > gamma]
// computed on detached cosines (normalised by the full r, not by the kept tokens); reduce is the
// mean over images or, as Eq. 14 prints it, the sum.
AttributeGuidance attributeGuidanceLoss(const at::Tensor& predicted, const at::Tensor& targets,
                                        const AttributeGuidanceOptions& opts = {});

}  // namespace agreid::trainer
