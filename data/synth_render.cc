#include "data/synth_render.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/check.h"
#include "data/synth_canvas.h"
#include "data/synth_figure.h"

namespace agreid::data {
namespace {

constexpr int kSuper = 2;  // supersampling factor of the canvas

Rgb tinted(double base, double spread, CounterRng& rng) {
  return {static_cast<float>(base + rng.uniform(-spread, spread)),
          static_cast<float>(base + rng.uniform(-spread, spread)),
          static_cast<float>(base + rng.uniform(-spread, spread))};
}

void drawBackground(Canvas& c, const CameraStyle& cam, CounterRng& rng) {
  const int h = c.height(), w = c.width();
  const double horizon = cam.horizon * h;
  const double period = std::max(3.0, cam.texture_period * h);
  const double phase_x = rng.uniform() * period, phase_y = rng.uniform() * period;
  const float light = static_cast<float>(rng.uniform(0.93, 1.07));
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const bool wall = y < horizon;
      Rgb col = wall ? cam.wall : cam.ground;
      const double tx = (x + phase_x) / period, ty = (y + phase_y) / period;
      bool line = false;
      switch (cam.texture_kind) {
        case 1:  // bricks on the wall
          if (wall) {
            const double row = std::floor(ty * 2);
            const double bx = tx + (static_cast<int64_t>(row) % 2 ? 0.5 : 0.0);
            line = (ty * 2 - row) < 0.18 || (bx - std::floor(bx)) < 0.09;
          }
          break;
        case 2:  // wide facade panels
          if (wall && static_cast<int64_t>(std::floor(tx / 2)) % 2 == 0) col = cam.texture;
          break;
        case 3:  // floor tiles
          if (!wall) line = (tx - std::floor(tx)) < 0.1 || (ty - std::floor(ty)) < 0.1;
          break;
        default:
          break;
      }
      if (line) col = cam.texture;
      c.set(x, y, scaled(col, light), Layer::kBackground);
    }
  }
}

// Draws a random occluder of `kind` relative to the target pose.
void drawOccluder(Canvas& c, OccluderKind kind, const Pose& target, CounterRng& rng) {
  const double s = target.size;
  const double feet = target.top + s;
  const double h = c.height();
  auto box = [&](double x0, double y0, double x1, double y1, const Paint& p) {
    c.fillQuad({{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}}}, p, Layer::kOccluder);
  };
  switch (kind) {
    case OccluderKind::kPole: {
      const double width = rng.uniform(0.08, 0.15) * s;
      const double x = target.cx + rng.uniform(-0.12, 0.12) * s;
      static const Rgb kPoleColours[] = {{112, 112, 118}, {40, 72, 52}, {92, 62, 40}, {30, 30, 30}};
      const Rgb col = kPoleColours[rng.below(4)];
      box(x - width / 2, 0, x + width / 2, h, Paint(col));
      box(x - width / 2, 0, x - width / 6, h, Paint(scaled(col, 1.25f)));
      break;
    }
    case OccluderKind::kCar: {
      const double top = feet - rng.uniform(0.3, 0.55) * s;
      const double x0 = target.cx - rng.uniform(0.3, 0.9) * s;
      const double x1 = target.cx + rng.uniform(0.3, 0.9) * s;
      const Rgb body = attributeColour(kAttrUpperColour, static_cast<int>(rng.below(10)));
      box(x0, top, x1, h, Paint(body));
      box(x0 + 0.04 * s, top + 0.02 * s, x1 - 0.04 * s, top + 0.1 * s, Paint(Rgb{45, 55, 70}));
      for (double wx : {x0 + 0.18 * s, x1 - 0.18 * s})
        c.fillEllipse(wx, feet + 0.02 * s, 0.09 * s, 0.07 * s, Paint(Rgb{20, 20, 20}),
                      Layer::kOccluder);
      break;
    }
    case OccluderKind::kPerson: {
      const Person other = samplePerson(rng);
      const double dir = rng.bernoulli(0.5) ? -1.0 : 1.0;
      const double size = s * rng.uniform(1.0, 1.15);
      // Draws in a fixed order (function arguments are evaluated in an unspecified one, and gcc
      // and clang differ): the same world from every compiler.
      const double rise = rng.uniform(0.0, 0.08) * s;
      const double offset = dir * rng.uniform(0.2, 0.36) * s;
      const Pose pose = samplePose(rng, target.cx + offset, feet + rise, size);
      drawPerson(c, other, pose, Layer::kOccluder);
      break;
    }
    case OccluderKind::kBush: {
      Paint leaves(Rgb{50, static_cast<float>(rng.uniform(95, 135)), 45});
      leaves.pattern = Paint::kChecks;
      leaves.second = Rgb{32, 78, 30};
      leaves.period = std::max(1.5, 0.03 * s);
      const double ry = rng.uniform(0.3, 0.48) * s;  // fixed order, as for kPerson
      const double rx = rng.uniform(0.22, 0.35) * s;
      const double shift = rng.uniform(-0.15, 0.15) * s;
      c.fillEllipse(target.cx + shift, feet, rx, ry, leaves, Layer::kOccluder);
      break;
    }
    case OccluderKind::kBin: {
      const double width = rng.uniform(0.22, 0.32) * s, height = rng.uniform(0.28, 0.45) * s;
      const double x = target.cx + rng.uniform(-0.2, 0.2) * s;
      const Rgb col = tinted(rng.uniform(50, 110), 20, rng);
      box(x - width / 2, feet + 0.03 * s - height, x + width / 2, feet + 0.03 * s, Paint(col));
      box(x - width / 2 - 0.01 * s, feet + 0.03 * s - height, x + width / 2 + 0.01 * s,
          feet + 0.06 * s - height, Paint(scaled(col, 0.7f)));
      break;
    }
    case OccluderKind::kSuitcase: {
      const double width = rng.uniform(0.2, 0.3) * s, height = rng.uniform(0.28, 0.42) * s;
      const double x = target.cx + rng.uniform(-0.2, 0.2) * s;
      const Rgb col = attributeColour(kAttrUpperColour, static_cast<int>(rng.below(10)));
      box(x - width / 2, feet + 0.02 * s - height, x + width / 2, feet + 0.02 * s, Paint(col));
      box(x - 0.03 * s, feet + 0.02 * s - height - 0.08 * s, x + 0.03 * s, feet + 0.02 * s - height,
          Paint(Rgb{25, 25, 25}));
      break;
    }
    case OccluderKind::kPanel:  // region occluders: drawPanel
    case OccluderKind::kNone:
      break;
  }
}

// Bounding box of one body region of the target, in canvas pixels (inclusive).
struct RegionBox {
  bool found = false;
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

// A flat panel in front of `box`: its full width plus a margin, 60-100% of its height from the
// top or from the bottom.
void drawPanel(Canvas& c, const RegionBox& box, double person_size, CounterRng& rng) {
  const double margin = 0.02 * person_size;
  const double height = (box.y1 + 1 - box.y0) * rng.uniform(0.6, 1.0);
  const bool from_top = rng.bernoulli(0.5);
  const double y0 = from_top ? box.y0 : box.y1 + 1 - height;
  const double y1 = y0 + height;
  const double x0 = box.x0 - margin, x1 = box.x1 + 1 + margin;
  const Rgb col = tinted(rng.uniform(60, 200), 25, rng);
  c.fillQuad({{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}}}, Paint(col), Layer::kOccluder);
  const double rim = std::max(1.0, 0.1 * height);
  c.fillQuad({{{x0, y0}, {x1, y0}, {x1, y0 + rim}, {x0, y0 + rim}}}, Paint(scaled(col, 0.7f)),
             Layer::kOccluder);
}

OccluderKind sampleOccluderKind(CounterRng& rng) {
  switch (rng.below(20)) {
    case 0:
    case 1:
    case 2:
    case 3:
      return OccluderKind::kPole;
    case 4:
    case 5:
    case 6:
    case 7:
    case 8:
      return OccluderKind::kCar;
    case 9:
    case 10:
    case 11:
    case 12:
    case 13:
    case 14:
      return OccluderKind::kPerson;
    case 15:
    case 16:
      return OccluderKind::kBush;
    case 17:
    case 18:
      return OccluderKind::kBin;
    default:
      return OccluderKind::kSuitcase;
  }
}

}  // namespace

BodyRegion sampleOccludedRegion(const Person& person, CounterRng& rng) {
  static const BodyRegion kRegions[] = {BodyRegion::kHead, BodyRegion::kUpperBody,
                                        BodyRegion::kLowerBody, BodyRegion::kFeet,
                                        BodyRegion::kBag};
  const bool has_bag = person.attributes[kAttrBagType] != 0;
  return kRegions[rng.below(has_bag ? 5 : 4)];
}

CameraStyle sampleCamera(CounterRng& rng) {
  CameraStyle cam;
  cam.wall = tinted(rng.uniform(70, 190), 25, rng);
  cam.ground = tinted(rng.uniform(60, 150), 12, rng);
  cam.texture_kind = static_cast<int>(rng.below(4));
  cam.texture = scaled(cam.wall, static_cast<float>(rng.bernoulli(0.5) ? rng.uniform(0.65, 0.82)
                                                                       : rng.uniform(1.15, 1.3)));
  if (cam.texture_kind == 3) cam.texture = scaled(cam.ground, 0.75f);
  cam.horizon = rng.uniform(0.45, 0.75);
  cam.texture_period = rng.uniform(0.05, 0.12);
  cam.gain = rng.uniform(0.75, 1.2);
  cam.cast = {static_cast<float>(rng.uniform(0.9, 1.1)), static_cast<float>(rng.uniform(0.9, 1.1)),
              static_cast<float>(rng.uniform(0.9, 1.1))};
  cam.person_height = rng.uniform(0.74, 0.9);
  cam.blur = rng.bernoulli(0.4);
  cam.noise_sigma = rng.uniform(1.5, 6.0);
  return cam;
}

RenderedImage renderPedestrian(const Person& person, const CameraStyle& camera,
                               const RenderSpec& spec, CounterRng& rng) {
  AGREID_CHECK(spec.height >= 8 && spec.width >= 4, spec.height, "x", spec.width);
  const int ch = static_cast<int>(spec.height) * kSuper, cw = static_cast<int>(spec.width) * kSuper;
  Canvas canvas(ch, cw);
  drawBackground(canvas, camera, rng);
  const double size =
      camera.person_height * ch * person.details.height_scale * rng.uniform(0.96, 1.04);
  const double feet = ch * (0.5 + camera.person_height / 2) + rng.uniform(-0.03, 0.03) * ch;
  const Pose pose = samplePose(rng, cw / 2.0 + rng.uniform(-0.06, 0.06) * cw, feet, size);
  drawPerson(canvas, person, pose, Layer::kTarget);
  const std::array<int64_t, kNumBodyRegions> holistic = canvas.countByRegion(Layer::kTarget);
  RegionBox region_box;
  if (spec.region_occluder != BodyRegion::kNone) {
    RegionBox& b = region_box;
    b.found = canvas.bounds(Layer::kTarget, spec.region_occluder, &b.x0, &b.y0, &b.x1, &b.y1);
  }

  RenderedImage out;
  if (spec.occluded) {
    // Try occluders until one hides 20-50% of the person; else keep the closest to 35%.
    const int64_t person_pixels = canvas.count(Layer::kTarget);
    Canvas best = canvas;
    double best_score = 1e9;
    for (int attempt = 0; attempt < 16; ++attempt) {
      Canvas trial = canvas;
      const OccluderKind kind = sampleOccluderKind(rng);
      drawOccluder(trial, kind, pose, rng);
      const double hidden =
          person_pixels > 0 ? 1.0 - static_cast<double>(trial.count(Layer::kTarget)) / person_pixels
                            : 0.0;
      const bool ok = hidden >= kMinOccludedFraction && hidden <= kMaxOccludedFraction;
      const double score = ok ? 0.0 : std::fabs(hidden - 0.35);
      if (score < best_score) {
        best_score = score;
        best = std::move(trial);
        out.occluder = kind;
        out.occluded_fraction = hidden;
      }
      if (ok) break;
    }
    canvas = std::move(best);
  }
  if (region_box.found) {
    CounterRng region_rng = spec.region_rng;
    drawPanel(canvas, region_box, size, region_rng);
    out.region_occluder = spec.region_occluder;
    if (out.occluder == OccluderKind::kNone) out.occluder = OccluderKind::kPanel;
  }
  const std::array<int64_t, kNumBodyRegions> visible = canvas.countByRegion(Layer::kTarget);
  int64_t all_holistic = 0, all_visible = 0;
  for (int r = 0; r < kNumBodyRegions; ++r) {
    all_holistic += holistic[r];
    all_visible += visible[r];
  }
  if (region_box.found && all_holistic > 0) {
    out.occluded_fraction = 1.0 - static_cast<double>(all_visible) / all_holistic;
  }
  for (int a = 0; a < kNumSynthAttributes; ++a) {
    const BodyRegion region = attributeRegion(a, person);
    const int64_t total = region == BodyRegion::kNone ? all_holistic : holistic[int(region)];
    const int64_t seen = region == BodyRegion::kNone ? all_visible : visible[int(region)];
    out.visibility[a] = total > 0 ? static_cast<float>(static_cast<double>(seen) / total) : 1.f;
  }
  out.image = canvas.finish(kSuper, camera.gain, camera.cast, camera.blur, camera.noise_sigma, rng);
  return out;
}

}  // namespace agreid::data
