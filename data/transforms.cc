#include "data/transforms.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/check.h"
#include "base/error.h"
#include "data/counter_rng.h"

namespace agreid::data {
namespace {

constexpr uint64_t kTransformStream = 0x5452414E53465231ULL;  // "TRANSFR1"
constexpr double kEraseMinArea = 0.02;
constexpr double kEraseMaxArea = 1.0 / 3.0;
constexpr double kEraseMinAspect = 0.3;
constexpr double kEraseMaxAspect = 1.0 / 0.3;
constexpr int kEraseAttempts = 10;

double bilinearFilter(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

double bicubicFilter(double x) {
  constexpr double a = -0.5;  // PIL's (and antialiased torch's) bicubic
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// Resampling weights of one axis: for output i, taps [first[i], first[i] + count[i]) with
// weights weight[i * max_taps + t] (PIL's precompute_coeffs).
struct AxisWeights {
  std::vector<int> first;
  std::vector<int> count;
  std::vector<float> weight;
  int max_taps = 0;
};

AxisWeights axisWeights(int in_size, int out_size, ResizeFilter filter) {
  const double support_base = filter == ResizeFilter::kBicubic ? 2.0 : 1.0;
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = support_base * filter_scale;
  AxisWeights w;
  w.max_taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  w.first.resize(out_size);
  w.count.resize(out_size);
  w.weight.assign(static_cast<size_t>(out_size) * w.max_taps, 0.0f);
  std::vector<double> tmp(w.max_taps);
  for (int i = 0; i < out_size; ++i) {
    const double center = (i + 0.5) * scale;
    int lo = static_cast<int>(center - support + 0.5);
    if (lo < 0) lo = 0;
    int hi = static_cast<int>(center + support + 0.5);
    if (hi > in_size) hi = in_size;
    const int n = std::min(hi - lo, w.max_taps);
    double total = 0.0;
    for (int t = 0; t < n; ++t) {
      const double x = (t + lo - center + 0.5) / filter_scale;
      tmp[t] = filter == ResizeFilter::kBicubic ? bicubicFilter(x) : bilinearFilter(x);
      total += tmp[t];
    }
    w.first[i] = lo;
    w.count[i] = n;
    for (int t = 0; t < n; ++t) {
      w.weight[static_cast<size_t>(i) * w.max_taps + t] =
          static_cast<float>(total != 0.0 ? tmp[t] / total : 0.0);
    }
  }
  return w;
}

}  // namespace

void resizeImage(const RgbImage& image, int64_t out_h, int64_t out_w, ResizeFilter filter,
                 float* out_hwc) {
  const int in_h = image.height;
  const int in_w = image.width;
  AGREID_CHECK(in_h > 0 && in_w > 0 && image.pixels.size() == static_cast<size_t>(in_h) * in_w * 3);
  const AxisWeights wx = axisWeights(in_w, static_cast<int>(out_w), filter);
  const AxisWeights wy = axisWeights(in_h, static_cast<int>(out_h), filter);

  // Horizontal pass: in_h x out_w x 3.
  thread_local std::vector<float> horizontal;
  horizontal.resize(static_cast<size_t>(in_h) * out_w * 3);
  const uint8_t* src = image.pixels.data();
  for (int y = 0; y < in_h; ++y) {
    const uint8_t* row = src + static_cast<size_t>(y) * in_w * 3;
    float* dst = horizontal.data() + static_cast<size_t>(y) * out_w * 3;
    for (int64_t x = 0; x < out_w; ++x) {
      const float* w = wx.weight.data() + x * wx.max_taps;
      const uint8_t* p = row + static_cast<size_t>(wx.first[x]) * 3;
      float r = 0.f, g = 0.f, b = 0.f;
      for (int t = 0; t < wx.count[x]; ++t) {
        r += w[t] * p[3 * t];
        g += w[t] * p[3 * t + 1];
        b += w[t] * p[3 * t + 2];
      }
      dst[3 * x] = r;
      dst[3 * x + 1] = g;
      dst[3 * x + 2] = b;
    }
  }
  // Vertical pass: out_h x out_w x 3, contiguous rows (vectorises).
  const int64_t row_len = out_w * 3;
  for (int64_t y = 0; y < out_h; ++y) {
    float* dst = out_hwc + y * row_len;
    const float* w = wy.weight.data() + y * wy.max_taps;
    const float* base = horizontal.data() + static_cast<size_t>(wy.first[y]) * row_len;
    std::fill(dst, dst + row_len, 0.f);
    for (int t = 0; t < wy.count[y]; ++t) {
      const float wt = w[t];
      const float* s = base + t * row_len;
      for (int64_t i = 0; i < row_len; ++i) dst[i] += wt * s[i];
    }
  }
}

ImageTransform::ImageTransform(TransformOptions options, TransformMode mode)
    : options_(std::move(options)), mode_(mode) {
  if (options_.mean.size() != 3 || options_.std.size() != 3) {
    throw InputError(detail::concat("data.mean and data.std: expected 3 values (RGB), got ",
                                    options_.mean.size(), " and ", options_.std.size()));
  }
  for (double s : options_.std) {
    if (!(s > 0.0))
      throw InputError("data.std: expected positive values, got " + std::to_string(s));
  }
  AGREID_CHECK(options_.height > 0 && options_.width > 0 && options_.pad >= 0);
}

AugmentParams ImageTransform::apply(const RgbImage& image, const SampleKey& key, float* out) const {
  const int64_t h = options_.height;
  const int64_t w = options_.width;
  const bool train = mode_ == TransformMode::kTrain;
  thread_local std::vector<float> resized;
  resized.resize(static_cast<size_t>(h) * w * 3);
  resizeImage(image, h, w, train ? ResizeFilter::kBicubic : ResizeFilter::kBilinear,
              resized.data());

  AugmentParams params;
  CounterRng rng(key.seed ^ kTransformStream, static_cast<uint64_t>(key.epoch),
                 static_cast<uint64_t>(key.index));
  if (train) {
    params.flipped = rng.bernoulli(options_.flip_prob);
    params.crop_top = rng.range(0, 2 * options_.pad);
    params.crop_left = rng.range(0, 2 * options_.pad);
  }

  float scale[3], shift[3];
  for (int c = 0; c < 3; ++c) {
    scale[c] = static_cast<float>(1.0 / (255.0 * options_.std[c]));
    shift[c] = static_cast<float>(-options_.mean[c] / options_.std[c]);
  }
  // Output pixel (y, x) reads resized pixel (y + dy, x' + dx) with x' the flipped column; outside
  // the resized image lies the zero padding (normalised: shift).
  const int64_t dy = params.crop_top - (train ? options_.pad : 0);
  const int64_t dx = params.crop_left - (train ? options_.pad : 0);
  const int64_t plane = h * w;
  for (int64_t y = 0; y < h; ++y) {
    const int64_t sy = y + dy;
    float* o0 = out + y * w;
    float* o1 = o0 + plane;
    float* o2 = o1 + plane;
    if (sy < 0 || sy >= h) {
      std::fill(o0, o0 + w, shift[0]);
      std::fill(o1, o1 + w, shift[1]);
      std::fill(o2, o2 + w, shift[2]);
      continue;
    }
    const float* row = resized.data() + sy * w * 3;
    for (int64_t x = 0; x < w; ++x) {
      // Flip happens before pad + crop: the padded, flipped image column is x + dx.
      const int64_t px = x + dx;
      if (px < 0 || px >= w) {
        o0[x] = shift[0];
        o1[x] = shift[1];
        o2[x] = shift[2];
        continue;
      }
      const int64_t sx = params.flipped ? w - 1 - px : px;
      const float* p = row + sx * 3;
      o0[x] = p[0] * scale[0] + shift[0];
      o1[x] = p[1] * scale[1] + shift[1];
      o2[x] = p[2] * scale[2] + shift[2];
    }
  }

  if (train && rng.bernoulli(options_.erasing_prob)) {
    const double area = static_cast<double>(h * w);
    for (int attempt = 0; attempt < kEraseAttempts; ++attempt) {
      const double target = rng.uniform(kEraseMinArea, kEraseMaxArea) * area;
      const double aspect =
          std::exp(rng.uniform(std::log(kEraseMinAspect), std::log(kEraseMaxAspect)));
      const auto eh = static_cast<int64_t>(std::lround(std::sqrt(target * aspect)));
      const auto ew = static_cast<int64_t>(std::lround(std::sqrt(target / aspect)));
      if (ew < w && eh < h) {
        params.erased = true;
        params.erase_height = eh;
        params.erase_width = ew;
        params.erase_top = rng.range(0, h - eh);
        params.erase_left = rng.range(0, w - ew);
        for (int c = 0; c < 3; ++c) {
          for (int64_t y = params.erase_top; y < params.erase_top + eh; ++y) {
            float* o = out + c * plane + y * w + params.erase_left;
            for (int64_t x = 0; x < ew; ++x) o[x] = static_cast<float>(rng.normal());
          }
        }
        break;
      }
    }
  }
  return params;
}

at::Tensor ImageTransform::operator()(const RgbImage& image, const SampleKey& key) const {
  at::Tensor out = at::empty({3, options_.height, options_.width}, at::kFloat);
  apply(image, key, out.data_ptr<float>());
  return out;
}

}  // namespace agreid::data
