// Image transforms (method.md §1.5), from a decoded RgbImage to a normalised float32 CHW image.
//
//   train: resize to (height, width) bicubic -> horizontal flip (flip_prob) -> zero pad `pad` and
//          random crop back to (height, width) -> normalise (mean/std) -> random erasing
//          (erasing_prob; timm pixel mode: area 0.02..1/3 of the image, log-uniform aspect
//          0.3..3.3, per-pixel per-channel N(0,1) values written after normalisation).
//   test:  resize to (height, width) bilinear -> normalise.
//
// Resizing is PIL's separable convolution resampling (the filter support widens when
// downscaling, i.e. antialiased; bicubic with a = -0.5), computed in float without the
// intermediate 8-bit rounding; it equals torch.nn.functional.interpolate(antialias=True).
//
// Random choices come from a CounterRng keyed by (seed, epoch, sample index): the output depends
// on nothing else (not the thread, the rank, the batch or the order of calls).
//
// Thread-safe: apply() is const and keeps its scratch buffers in thread_local storage.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "data/jpeg_codec.h"
#include "data/options.h"

namespace agreid::data {

enum class TransformMode { kTrain, kTest };

// What the random draws of one sample are keyed by.
struct SampleKey {
  uint64_t seed = 0;
  int64_t epoch = 0;
  int64_t index = 0;
};

// The random parameters a train transform drew (for tests and debugging).
struct AugmentParams {
  bool flipped = false;
  int64_t crop_top = 0;  // offset into the padded image, 0..2*pad
  int64_t crop_left = 0;
  bool erased = false;
  int64_t erase_top = 0, erase_left = 0, erase_height = 0, erase_width = 0;
};

class ImageTransform {
 public:
  // Throws InputError when mean/std do not have 3 entries or std has a zero.
  ImageTransform(TransformOptions options, TransformMode mode);

  int64_t height() const { return options_.height; }
  int64_t width() const { return options_.width; }
  TransformMode mode() const { return mode_; }

  // Writes the 3 x height x width float32 result to `out` (contiguous, channel-major), e.g. a slot
  // of a preallocated batch tensor. Returns the random parameters drawn (all off in test mode).
  AugmentParams apply(const RgbImage& image, const SampleKey& key, float* out) const;

  // Convenience: a fresh [3, height, width] float32 tensor.
  at::Tensor operator()(const RgbImage& image, const SampleKey& key) const;

 private:
  TransformOptions options_;
  TransformMode mode_;
};

// The resize step alone: HWC float pixels (0..255, not normalised) of size out_h x out_w. Exposed
// for the reference tests.
enum class ResizeFilter { kBilinear, kBicubic };
void resizeImage(const RgbImage& image, int64_t out_h, int64_t out_w, ResizeFilter filter,
                 float* out_hwc);

}  // namespace agreid::data
