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

// L_attrA = -mean_i mean_j cos(a_ij, sg(v_ij)): the gradient reaches `predicted` only.
at::Tensor attributeAlignmentLoss(const at::Tensor& predicted, const at::Tensor& targets);

// Otsu's threshold of `values` (any shape, read as doubles): a 256-bin histogram on [-1, 1]
// (bin k = [-1 + k h, -1 + (k+1) h), h = 2/256, values outside clamped into the end bins); for
// every split after bin k (k = 0..254) the between-class variance w0 w1 (mu0 - mu1)^2 with the
// class means taken over bin centres; returns the centre of the bin k that maximises it (the
// first on ties), as skimage.filters.threshold_otsu does. Values above it form the upper class.
double otsuThreshold(const at::Tensor& values);

// GuidanceMask (trainer/options.h, stage2.mask): kOtsu takes gamma = otsuThreshold(detached
// cosines of the batch), for occluded training sets; kNone takes gamma = -1, every token counts
// (holistic sets).
struct AttributeGuidanceOptions {
  GuidanceMask mask = GuidanceMask::kOtsu;
};

struct AttributeGuidance {
  at::Tensor loss;             // scalar, differentiable
  double gamma = -1.0;         // threshold used
  double kept_fraction = 1.0;  // fraction of tokens with D_ij = 1
};

// L_attrG = -(1 / (B r)) sum_ij D_ij cos(a_ij, v_ij) with D_ij = [cos(a_ij, v_ij) > gamma]
// computed on detached cosines (normalised by the full r, not by the kept tokens).
AttributeGuidance attributeGuidanceLoss(const at::Tensor& predicted, const at::Tensor& targets,
                                        const AttributeGuidanceOptions& opts = {});

}  // namespace agreid::trainer
