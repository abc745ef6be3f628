// Canvas: the float RGB drawing surface of the synthetic-world renderer, with a per-pixel layer
// tag (background, target person, occluder) and body-region tag (the region being drawn,
// setRegion) so that occlusion can be measured per body region. Shapes are tested
// at pixel centres; finish() box-downsamples the supersampled canvas and applies the camera
// (gain, colour cast, blur, sensor noise) to produce the 8-bit image.
//
// Not thread-safe; one canvas per image.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "data/counter_rng.h"
#include "data/jpeg_codec.h"
#include "data/synth_world.h"

namespace agreid::data {

enum class Layer : uint8_t { kBackground = 0, kTarget = 1, kOccluder = 2 };

// Colour of a shape at a canvas point: plain, horizontal stripes or checks of period `period`.
struct Paint {
  enum Pattern { kPlain, kStripes, kChecks };
  Paint() = default;
  explicit Paint(Rgb c) : base(c) {}
  Rgb base;
  Pattern pattern = kPlain;
  Rgb second;
  double period = 4.0;  // canvas pixels
  double phase = 0.0;   // fraction of a period
  double origin_x = 0.0, origin_y = 0.0;
  Rgb at(double x, double y) const;
};

struct Point {
  double x = 0, y = 0;
};

class Canvas {
 public:
  Canvas(int height, int width);
  int height() const { return height_; }
  int width() const { return width_; }

  // Body region that the following draws tag their pixels with (BodyRegion::kNone initially).
  void setRegion(BodyRegion region) { region_ = region; }
  void set(int x, int y, Rgb colour, Layer layer);
  // Convex quadrilateral, either winding.
  void fillQuad(const std::array<Point, 4>& corners, const Paint& paint, Layer layer);
  void fillEllipse(double cx, double cy, double rx, double ry, const Paint& paint, Layer layer);
  int64_t count(Layer layer) const;
  // Pixels of `layer` per body region, indexed by static_cast<int>(BodyRegion).
  std::array<int64_t, kNumBodyRegions> countByRegion(Layer layer) const;
  // Bounding box [x0, x1] x [y0, y1] (inclusive) of the pixels of `layer` and `region`; false
  // when there are none.
  bool bounds(Layer layer, BodyRegion region, int* x0, int* y0, int* x1, int* y1) const;

  // Downsamples by `factor` (box filter), applies gain * cast, an optional 3x3 blur and Gaussian
  // noise of `noise_sigma`, and rounds to 8 bits.
  RgbImage finish(int factor, double gain, Rgb cast, bool blur, double noise_sigma,
                  CounterRng& rng) const;

 private:
  int height_, width_;
  std::vector<float> rgb_;          // height * width * 3
  std::vector<uint8_t> layer_;      // height * width
  std::vector<uint8_t> region_of_;  // height * width, BodyRegion
  BodyRegion region_ = BodyRegion::kNone;
};

}  // namespace agreid::data
