#include "data/synth_canvas.h"

#include <algorithm>
#include <cmath>

namespace agreid::data {

Rgb Paint::at(double x, double y) const {
  if (pattern == kPlain) return base;
  const double v = (y - origin_y) / period + phase;
  if (pattern == kStripes) return (v - std::floor(v)) < 0.5 ? base : second;
  const double u = (x - origin_x) / period + phase;
  const int64_t parity = static_cast<int64_t>(std::floor(u)) + static_cast<int64_t>(std::floor(v));
  return (parity & 1) ? second : base;
}

Canvas::Canvas(int height, int width)
    : height_(height),
      width_(width),
      rgb_(static_cast<size_t>(height) * width * 3, 0.f),
      layer_(static_cast<size_t>(height) * width, 0),
      region_of_(static_cast<size_t>(height) * width, 0) {}

void Canvas::set(int x, int y, Rgb c, Layer layer) {
  const size_t i = static_cast<size_t>(y) * width_ + x;
  rgb_[3 * i] = c.r;
  rgb_[3 * i + 1] = c.g;
  rgb_[3 * i + 2] = c.b;
  layer_[i] = static_cast<uint8_t>(layer);
  region_of_[i] = static_cast<uint8_t>(region_);
}

void Canvas::fillQuad(const std::array<Point, 4>& p, const Paint& paint, Layer layer) {
  double x0 = p[0].x, x1 = p[0].x, y0 = p[0].y, y1 = p[0].y;
  for (const auto& q : p) {
    x0 = std::min(x0, q.x);
    x1 = std::max(x1, q.x);
    y0 = std::min(y0, q.y);
    y1 = std::max(y1, q.y);
  }
  const int ix0 = std::max(0, static_cast<int>(std::floor(x0)));
  const int ix1 = std::min(width_ - 1, static_cast<int>(std::ceil(x1)));
  const int iy0 = std::max(0, static_cast<int>(std::floor(y0)));
  const int iy1 = std::min(height_ - 1, static_cast<int>(std::ceil(y1)));
  for (int y = iy0; y <= iy1; ++y) {
    const double py = y + 0.5;
    for (int x = ix0; x <= ix1; ++x) {
      const double px = x + 0.5;
      bool pos = false, neg = false;
      for (int e = 0; e < 4; ++e) {
        const Point& a = p[e];
        const Point& b = p[(e + 1) % 4];
        const double cross = (b.x - a.x) * (py - a.y) - (b.y - a.y) * (px - a.x);
        pos |= cross > 0;
        neg |= cross < 0;
      }
      if (!(pos && neg)) set(x, y, paint.at(px, py), layer);
    }
  }
}

void Canvas::fillEllipse(double cx, double cy, double rx, double ry, const Paint& paint,
                         Layer layer) {
  if (rx <= 0 || ry <= 0) return;
  const int ix0 = std::max(0, static_cast<int>(std::floor(cx - rx)));
  const int ix1 = std::min(width_ - 1, static_cast<int>(std::ceil(cx + rx)));
  const int iy0 = std::max(0, static_cast<int>(std::floor(cy - ry)));
  const int iy1 = std::min(height_ - 1, static_cast<int>(std::ceil(cy + ry)));
  for (int y = iy0; y <= iy1; ++y) {
    const double dy = (y + 0.5 - cy) / ry;
    for (int x = ix0; x <= ix1; ++x) {
      const double dx = (x + 0.5 - cx) / rx;
      if (dx * dx + dy * dy <= 1.0) set(x, y, paint.at(x + 0.5, y + 0.5), layer);
    }
  }
}

int64_t Canvas::count(Layer layer) const {
  return std::count(layer_.begin(), layer_.end(), static_cast<uint8_t>(layer));
}

std::array<int64_t, kNumBodyRegions> Canvas::countByRegion(Layer layer) const {
  std::array<int64_t, kNumBodyRegions> counts{};
  for (size_t i = 0; i < layer_.size(); ++i)
    if (layer_[i] == static_cast<uint8_t>(layer)) ++counts[region_of_[i]];
  return counts;
}

bool Canvas::bounds(Layer layer, BodyRegion region, int* x0, int* y0, int* x1, int* y1) const {
  *x0 = width_;
  *y0 = height_;
  *x1 = -1;
  *y1 = -1;
  for (int y = 0; y < height_; ++y)
    for (int x = 0; x < width_; ++x) {
      const size_t i = static_cast<size_t>(y) * width_ + x;
      if (layer_[i] != static_cast<uint8_t>(layer) || region_of_[i] != static_cast<uint8_t>(region))
        continue;
      *x0 = std::min(*x0, x);
      *x1 = std::max(*x1, x);
      *y0 = std::min(*y0, y);
      *y1 = std::max(*y1, y);
    }
  return *x1 >= 0;
}

RgbImage Canvas::finish(int factor, double gain, Rgb cast, bool blur, double noise_sigma,
                        CounterRng& rng) const {
  const int h = height_ / factor, w = width_ / factor;
  std::vector<float> small(static_cast<size_t>(h) * w * 3, 0.f);
  const float norm = 1.0f / (factor * factor);
  const float mul[3] = {static_cast<float>(gain * cast.r), static_cast<float>(gain * cast.g),
                        static_cast<float>(gain * cast.b)};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        float sum = 0.f;
        for (int dy = 0; dy < factor; ++dy)
          for (int dx = 0; dx < factor; ++dx)
            sum += rgb_[(static_cast<size_t>(y * factor + dy) * width_ + x * factor + dx) * 3 + c];
        small[(static_cast<size_t>(y) * w + x) * 3 + c] = sum * norm * mul[c];
      }
  if (blur) {  // separable [1 2 1] / 4, edges clamped
    std::vector<float> tmp(small.size());
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c) {
          const int xl = std::max(0, x - 1), xr = std::min(w - 1, x + 1);
          tmp[(y * w + x) * 3 + c] = 0.25f * small[(y * w + xl) * 3 + c] +
                                     0.5f * small[(y * w + x) * 3 + c] +
                                     0.25f * small[(y * w + xr) * 3 + c];
        }
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c) {
          const int yu = std::max(0, y - 1), yd = std::min(h - 1, y + 1);
          small[(y * w + x) * 3 + c] = 0.25f * tmp[(yu * w + x) * 3 + c] +
                                       0.5f * tmp[(y * w + x) * 3 + c] +
                                       0.25f * tmp[(yd * w + x) * 3 + c];
        }
  }
  RgbImage out;
  out.height = h;
  out.width = w;
  out.pixels.resize(small.size());
  for (size_t i = 0; i < small.size(); ++i) {
    const double v = small[i] + noise_sigma * rng.normal();
    out.pixels[i] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
  }
  return out;
}

}  // namespace agreid::data
