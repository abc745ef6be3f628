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

// The vector kernels of the vertical pass and of normalisation, compiled for AVX2 as well as the
// baseline and picked at load time (GCC function multi-versioning). AVX2 without FMA: a multiply
// and an add per element, as in the baseline, so both versions give identical results.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define AGREID_VECTOR_KERNEL __attribute__((target_clones("avx2", "default")))
#else
#define AGREID_VECTOR_KERNEL
#endif

// dst[i] = w * src[i]
AGREID_VECTOR_KERNEL void scaleInto(float* dst, float w, const float* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = w * src[i];
}

// dst[i] += w * src[i]
AGREID_VECTOR_KERNEL void addScaled(float* dst, float w, const float* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] += w * src[i];
}

// dst[i] = src[i] * scale + shift
AGREID_VECTOR_KERNEL void normalise(float* dst, const float* src, float scale, float shift,
                                    int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i] * scale + shift;
}

// Separable resampling of one image: the horizontal pass is done once into a planar buffer
// (3 x in_h x out_w); rows of the output are then produced one at a time per channel, so the
// caller can normalise/flip/crop them straight into its destination.
class Resampler {
 public:
  // `scratch` holds the planar buffer (reused across calls by the caller's thread).
  Resampler(const RgbImage& image, int64_t out_h, int64_t out_w, ResizeFilter filter,
            std::vector<float>& scratch)
      : in_h_(image.height),
        out_w_(out_w),
        wy_(axisWeights(image.height, static_cast<int>(out_h), filter)),
        planes_(scratch) {
    const int in_w = image.width;
    AGREID_CHECK(in_h_ > 0 && in_w > 0 &&
                 image.pixels.size() == static_cast<size_t>(in_h_) * in_w * 3);
    const AxisWeights wx = axisWeights(in_w, static_cast<int>(out_w), filter);
    planes_.resize(static_cast<size_t>(3) * in_h_ * out_w);
    // Each input row is widened once to float RGBx (4 lanes, the 4th unused), so that a tap is
    // one 4-lane multiply-add for all three channels; per channel the arithmetic (and its order)
    // is that of the scalar loop, so results are bit-identical to it.
    thread_local std::vector<float> rgbx;
    rgbx.resize(static_cast<size_t>(in_w) * 4);
    const uint8_t* src = image.pixels.data();
    for (int y = 0; y < in_h_; ++y) {
      const uint8_t* row = src + static_cast<size_t>(y) * in_w * 3;
      for (int x = 0; x < in_w; ++x) {
        rgbx[4 * x] = row[3 * x];
        rgbx[4 * x + 1] = row[3 * x + 1];
        rgbx[4 * x + 2] = row[3 * x + 2];
        rgbx[4 * x + 3] = 0.f;
      }
      float* d0 = plane(0, y);
      float* d1 = plane(1, y);
      float* d2 = plane(2, y);
      for (int64_t x = 0; x < out_w; ++x) {
        const float* w = wx.weight.data() + x * wx.max_taps;
        const float* p = rgbx.data() + static_cast<size_t>(wx.first[x]) * 4;
        float acc[4] = {0.f, 0.f, 0.f, 0.f};
        for (int t = 0; t < wx.count[x]; ++t) {
          const float wt = w[t];
          for (int c = 0; c < 4; ++c) acc[c] += wt * p[4 * t + c];
        }
        d0[x] = acc[0];
        d1[x] = acc[1];
        d2[x] = acc[2];
      }
    }
  }

  // Output row y of channel c (out_w values, 0..255 scale) into dst.
  void row(int c, int64_t y, float* dst) const {
    const float* w = wy_.weight.data() + y * wy_.max_taps;
    const int first = wy_.first[y];
    const int count = wy_.count[y];
    const float* s0 = plane(c, first);
    scaleInto(dst, w[0], s0, out_w_);
    for (int t = 1; t < count; ++t) addScaled(dst, w[t], s0 + t * out_w_, out_w_);
  }

 private:
  float* plane(int c, int y) {
    return planes_.data() + (static_cast<size_t>(c) * in_h_ + y) * out_w_;
  }
  const float* plane(int c, int y) const {
    return planes_.data() + (static_cast<size_t>(c) * in_h_ + y) * out_w_;
  }

  int in_h_;
  int64_t out_w_;
  AxisWeights wy_;
  std::vector<float>& planes_;
};

// Fills n floats with N(0, 1) values (Marsaglia's polar method, both values of each pair).
void fillNormal(CounterRng& rng, float* out, int64_t n) {
  int64_t i = 0;
  while (i < n) {
    double u, v, s;
    do {
      u = 2.0 * rng.uniform() - 1.0;
      v = 2.0 * rng.uniform() - 1.0;
      s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    const double f = std::sqrt(-2.0 * std::log(s) / s);
    out[i++] = static_cast<float>(u * f);
    if (i < n) out[i++] = static_cast<float>(v * f);
  }
}

}  // namespace

void resizeImage(const RgbImage& image, int64_t out_h, int64_t out_w, ResizeFilter filter,
                 float* out_hwc) {
  thread_local std::vector<float> scratch;
  const Resampler resampler(image, out_h, out_w, filter, scratch);
  std::vector<float> row(out_w);
  for (int64_t y = 0; y < out_h; ++y)
    for (int c = 0; c < 3; ++c) {
      resampler.row(c, y, row.data());
      for (int64_t x = 0; x < out_w; ++x) out_hwc[(y * out_w + x) * 3 + c] = row[x];
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
  thread_local std::vector<float> scratch;
  const Resampler resampler(image, h, w, train ? ResizeFilter::kBicubic : ResizeFilter::kBilinear,
                            scratch);

  AugmentParams params;
  CounterRng rng(key.seed ^ kTransformStream, static_cast<uint64_t>(key.epoch),
                 static_cast<uint64_t>(key.index));
  if (train) {
    params.flipped = rng.bernoulli(options_.flip_prob);
    params.crop_top = rng.range(0, 2 * options_.pad);
    params.crop_left = rng.range(0, 2 * options_.pad);
  }

  // Output pixel (y, x) reads the flipped, zero-padded resized image at (y + dy, x + dx); outside
  // the resized image lies the padding, whose normalised value is `shift`.
  const int64_t dy = params.crop_top - (train ? options_.pad : 0);
  const int64_t dx = params.crop_left - (train ? options_.pad : 0);
  const int64_t x0 = std::clamp<int64_t>(-dx, 0, w);      // first column inside
  const int64_t x1 = std::clamp<int64_t>(w - dx, x0, w);  // one past the last
  const int64_t plane = h * w;
  std::vector<float> row(static_cast<size_t>(w));
  for (int c = 0; c < 3; ++c) {
    const float scale = static_cast<float>(1.0 / (255.0 * options_.std[c]));
    const float shift = static_cast<float>(-options_.mean[c] / options_.std[c]);
    for (int64_t y = 0; y < h; ++y) {
      float* o = out + c * plane + y * w;
      const int64_t sy = y + dy;
      if (sy < 0 || sy >= h) {
        std::fill(o, o + w, shift);
        continue;
      }
      resampler.row(c, sy, row.data());
      std::fill(o, o + x0, shift);
      std::fill(o + x1, o + w, shift);
      if (params.flipped) {
        // column x reads flipped column x + dx, i.e. resized column w - 1 - x - dx
        const float* src = row.data() + (w - 1 - dx);
        for (int64_t x = x0; x < x1; ++x) o[x] = src[-x] * scale + shift;
      } else {
        normalise(o + x0, row.data() + dx + x0, scale, shift, x1 - x0);
      }
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
            fillNormal(rng, out + c * plane + y * w + params.erase_left, ew);
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
