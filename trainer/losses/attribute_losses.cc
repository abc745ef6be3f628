#include "trainer/losses/attribute_losses.h"

#include <torch/torch.h>

#include <array>
#include <cmath>
#include <vector>

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

double percentileThreshold(const at::Tensor& values, double q) {
  AGREID_CHECK(values.numel() > 0, "percentileThreshold needs at least one value");
  AGREID_CHECK(q >= 0 && q <= 100, "percentile ", q, " outside [0, 100]");
  const at::Tensor sorted =
      std::get<0>(values.detach().to(torch::kCPU, torch::kDouble).reshape(-1).sort());
  const double pos = q / 100.0 * static_cast<double>(sorted.numel() - 1);
  const int64_t lo = static_cast<int64_t>(std::floor(pos));
  const int64_t hi = std::min<int64_t>(lo + 1, sorted.numel() - 1);
  const double a = sorted[lo].item<double>(), b = sorted[hi].item<double>();
  return a + (pos - static_cast<double>(lo)) * (b - a);
}

double otsuThreshold(const at::Tensor& values) {
  const at::Tensor flat = values.detach().to(torch::kCPU, torch::kDouble).contiguous().view(-1);
  AGREID_CHECK(flat.numel() > 0, "otsuThreshold needs at least one value");
  const double* v = flat.data_ptr<double>();
  const double width = 2.0 / kOtsuBins;
  std::array<double, kOtsuBins> hist{};
  for (int64_t i = 0; i < flat.numel(); ++i) {
    int bin = static_cast<int>(std::floor((v[i] + 1.0) / width));
    hist[std::clamp(bin, 0, kOtsuBins - 1)] += 1.0;
  }
  std::array<double, kOtsuBins> centre{};
  for (int k = 0; k < kOtsuBins; ++k) centre[k] = -1.0 + (k + 0.5) * width;
  double total_count = 0.0, total_sum = 0.0;
  for (int k = 0; k < kOtsuBins; ++k) {
    total_count += hist[k];
    total_sum += hist[k] * centre[k];
  }
  double best = -1.0;
  int best_k = 0;
  double w0 = 0.0, s0 = 0.0;
  for (int k = 0; k < kOtsuBins - 1; ++k) {
    w0 += hist[k];
    s0 += hist[k] * centre[k];
    const double w1 = total_count - w0;
    double variance = 0.0;
    if (w0 > 0.0 && w1 > 0.0) {
      const double mu0 = s0 / w0, mu1 = (total_sum - s0) / w1;
      variance = w0 * w1 * (mu0 - mu1) * (mu0 - mu1);
    }
    if (variance > best) {
      best = variance;
      best_k = k;
    }
  }
  return centre[best_k];
}

AttributeGuidance attributeGuidanceLoss(const at::Tensor& predicted, const at::Tensor& targets,
                                        const AttributeGuidanceOptions& opts) {
  const at::Tensor cos = tokenCosine(predicted, targets);
  AttributeGuidance out;
  if (!std::isnan(opts.fixed_gamma)) {
    out.gamma = opts.fixed_gamma;
  } else if (opts.mask == GuidanceMask::kOtsu) {
    out.gamma = otsuThreshold(cos);
  } else if (maskPercentile(opts.mask) >= 0) {
    out.gamma = percentileThreshold(cos, maskPercentile(opts.mask));
  } else {
    out.gamma = -1.0;
  }
  out.cosine = cos.detach();
  // No mask keeps every token, a cosine of exactly -1 included.
  const bool all = opts.mask == GuidanceMask::kNone && std::isnan(opts.fixed_gamma);
  out.keep = (all ? torch::ones_like(out.cosine) : out.cosine.gt(out.gamma).to(cos.scalar_type()));
  out.kept_fraction = out.keep.mean().item<double>();
  out.loss = -reduceImages(out.keep * cos, opts.reduction);
  return out;
}

}  // namespace agreid::trainer
