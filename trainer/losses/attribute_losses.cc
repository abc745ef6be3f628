#include "trainer/losses/attribute_losses.h"

#include <torch/torch.h>

#include <cmath>

#include "base/check.h"

namespace agreid::trainer {
namespace {

constexpr int kOtsuBins = 256;

void checkTokens(const at::Tensor& predicted, const at::Tensor& targets) {
  AGREID_CHECK(predicted.dim() == 3 && predicted.sizes() == targets.sizes(),
               "tokens must be [B, r, D] of equal shape, got ", predicted.sizes(), " and ",
               targets.sizes());
}

}  // namespace

at::Tensor tokenCosine(const at::Tensor& predicted, const at::Tensor& targets) {
  checkTokens(predicted, targets);
  return torch::cosine_similarity(predicted, targets, /*dim=*/2, /*eps=*/1e-8);
}

namespace {
// Mean over tokens, then the reduction over images, of a [B, r] tensor.
at::Tensor reduceImages(const at::Tensor& per_token, AttrReduction reduction) {
  const at::Tensor per_image = per_token.mean(1);
  return reduction == AttrReduction::kSum ? per_image.sum() : per_image.mean();
}
}  // namespace

at::Tensor attributeAlignmentLoss(const at::Tensor& predicted, const at::Tensor& targets,
                                  const AlignmentOptions& opts) {
  return -reduceImages(tokenCosine(predicted, opts.joint ? targets : targets.detach()),
                       opts.reduction);
}

double maskPercentile(GuidanceMask mask) {
  switch (mask) {
    case GuidanceMask::kP50:
      return 50;
    case GuidanceMask::kP75:
      return 75;
    case GuidanceMask::kP90:
      return 90;
    default:
      return -1;
  }
}

at::Tensor percentileThreshold(const at::Tensor& values, double q) {
  AGREID_CHECK(values.numel() > 0, "percentileThreshold needs at least one value");
  AGREID_CHECK(q >= 0 && q <= 100, "percentile ", q, " outside [0, 100]");
  const at::Tensor sorted = std::get<0>(values.detach().to(torch::kDouble).reshape(-1).sort());
  const double pos = q / 100.0 * static_cast<double>(sorted.numel() - 1);
  const int64_t lo = static_cast<int64_t>(std::floor(pos));
  const int64_t hi = std::min<int64_t>(lo + 1, sorted.numel() - 1);
  const at::Tensor a = sorted.select(0, lo), b = sorted.select(0, hi);
  return a + (pos - static_cast<double>(lo)) * (b - a);
}

at::Tensor otsuThreshold(const at::Tensor& values) {
  const at::Tensor v = values.detach().to(torch::kDouble).reshape(-1);
  AGREID_CHECK(v.numel() > 0, "otsuThreshold needs at least one value");
  const double width = 2.0 / kOtsuBins;
  const at::Tensor bins = ((v + 1.0) / width).floor().clamp(0, kOtsuBins - 1).to(torch::kLong);
  // Counts by index_add (exact: integers in doubles); bincount would read the maximum back.
  const at::Tensor hist =
      torch::zeros({kOtsuBins}, v.options()).index_add_(0, bins, torch::ones_like(v));
  const at::Tensor centre = (torch::arange(kOtsuBins, v.options()) + 0.5) * width - 1.0;
  // Cumulative sums over the bins: w0, s0 for the split after bin k; the last entries are the
  // totals (summed in the same order as the split sums).
  const at::Tensor w = hist.cumsum(0), s = (hist * centre).cumsum(0);
  const at::Tensor w0 = w.slice(0, 0, kOtsuBins - 1), s0 = s.slice(0, 0, kOtsuBins - 1);
  const at::Tensor w1 = w.select(0, kOtsuBins - 1) - w0;
  const at::Tensor s1 = s.select(0, kOtsuBins - 1) - s0;
  const at::Tensor both = w0.gt(0).logical_and(w1.gt(0));
  const at::Tensor mu0 = s0 / w0.clamp_min(1), mu1 = s1 / w1.clamp_min(1);
  const at::Tensor variance =
      torch::where(both, w0 * w1 * (mu0 - mu1) * (mu0 - mu1), torch::zeros_like(w0));
  // argmax returns the first maximum: the first split on ties.
  return centre.index_select(0, variance.argmax().reshape({1})).reshape({});
}

AttributeGuidance attributeGuidanceLoss(const at::Tensor& predicted, const at::Tensor& targets,
                                        const AttributeGuidanceOptions& opts) {
  const at::Tensor cos = tokenCosine(predicted, targets);
  AttributeGuidance out;
  AGREID_CHECK(opts.mask != GuidanceMask::kOracle || opts.oracle_keep.defined(),
               "the oracle mask needs the tokens to keep");
  if (opts.fixed_gamma.defined()) {
    out.gamma = opts.fixed_gamma.to(torch::kDouble);
  } else if (opts.mask == GuidanceMask::kOtsu) {
    out.gamma = otsuThreshold(cos);
  } else if (maskPercentile(opts.mask) >= 0) {
    out.gamma = percentileThreshold(cos, maskPercentile(opts.mask));
  } else {
    out.gamma = torch::full({}, -1.0, cos.options().dtype(torch::kDouble));
  }
  out.cosine = cos.detach();
  // No mask keeps every token, a cosine of exactly -1 included.
  const bool all = opts.mask == GuidanceMask::kNone && !opts.fixed_gamma.defined();
  if (opts.mask == GuidanceMask::kOracle) {
    out.keep = opts.oracle_keep.to(cos.scalar_type()).detach();
  } else {
    out.keep = all ? torch::ones_like(out.cosine) : out.cosine.gt(out.gamma).to(cos.scalar_type());
  }
  out.kept_fraction = out.keep.to(torch::kDouble).mean();
  out.loss = -reduceImages(out.keep * cos, opts.reduction);
  return out;
}

}  // namespace agreid::trainer
