#include "data/synth_render.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/check.h"
#include "data/synth_canvas.h"

namespace agreid::data {
namespace {

constexpr int kSuper = 2;  // supersampling factor of the canvas

Rgb add(Rgb a, Rgb b) { return {a.r + b.r, a.g + b.g, a.b + b.b}; }
Rgb scaled(Rgb a, float s) { return {a.r * s, a.g * s, a.b * s}; }
Rgb grey(double v) { return {static_cast<float>(v), static_cast<float>(v), static_cast<float>(v)}; }
Rgb tinted(double base, double spread, CounterRng& rng) {
  return {static_cast<float>(base + rng.uniform(-spread, spread)),
          static_cast<float>(base + rng.uniform(-spread, spread)),
          static_cast<float>(base + rng.uniform(-spread, spread))};
}

struct Pose {
  double cx = 0;    // canvas x of the body axis
  double top = 0;   // canvas y of the top of the head
  double size = 1;  // person height in canvas pixels
  bool back = false;
  double stance = 0.03;  // feet apart (person units)
  double swing = 0.0;    // arms outward
};

Pose samplePose(CounterRng& rng, double cx, double feet_y, double size) {
  Pose p;
  p.cx = cx;
  p.size = size;
  p.top = feet_y - size;
  p.back = rng.bernoulli(0.5);
  p.stance = rng.uniform(0.0, 0.08);
  p.swing = rng.uniform(-0.015, 0.03);
  return p;
}

// Draws `person` with `pose` into `canvas`, marking its pixels with `layer`.
void drawPerson(Canvas& c, const Person& person, const Pose& pose, Layer layer) {
  const auto& a = person.attributes;
  const auto& d = person.details;
  const double s = pose.size;
  auto X = [&](double u) { return pose.cx + u * s; };
  auto Y = [&](double v) { return pose.top + v * s; };
  auto rect = [&](double u0, double v0, double u1, double v1, const Paint& paint) {
    c.fillQuad({{{X(u0), Y(v0)}, {X(u1), Y(v0)}, {X(u1), Y(v1)}, {X(u0), Y(v1)}}}, paint, layer);
  };
  auto quad = [&](double u0, double v0, double u1, double v1, double u2, double v2, double u3,
                  double v3, const Paint& paint) {
    c.fillQuad({{{X(u0), Y(v0)}, {X(u1), Y(v1)}, {X(u2), Y(v2)}, {X(u3), Y(v3)}}}, paint, layer);
  };
  auto ellipse = [&](double u, double v, double ru, double rv, const Paint& paint) {
    c.fillEllipse(X(u), Y(v), ru * s, rv * s, paint, layer);
  };

  const bool woman = a[kAttrGender] == 1;
  const double ws = (woman ? 0.22 : 0.25) * d.width_scale;  // shoulders
  const double ww = (woman ? 0.18 : 0.21) * d.width_scale;  // waist
  const double hw = (woman ? 0.21 : 0.20) * d.width_scale;  // hips
  const double waist = 0.50 + d.leg_shift;
  const bool long_hair = a[kAttrHairLength] == 1;
  const double hv = d.hair_volume;

  const Paint skin(d.skin);
  const Paint hair(add(attributeColour(kAttrHairColour, a[kAttrHairColour]), d.hair_jitter));
  const Rgb upper_rgb = add(attributeColour(kAttrUpperColour, a[kAttrUpperColour]), d.upper_jitter);
  Paint upper(upper_rgb);
  if (a[kAttrUpperPattern] != 0) {
    upper.pattern = a[kAttrUpperPattern] == 1 ? Paint::kStripes : Paint::kChecks;
    upper.second = add(d.pattern_colour, d.upper_jitter);
    upper.period = d.pattern_period * s;
    upper.phase = d.pattern_phase;
    upper.origin_x = X(0);
    upper.origin_y = Y(0);
  }
  const Paint lower(add(attributeColour(kAttrLowerColour, a[kAttrLowerColour]), d.lower_jitter));
  const Paint shoes(add(attributeColour(kAttrShoesColour, a[kAttrShoesColour]), d.shoes_jitter));
  const Paint bag(add(attributeColour(kAttrBagColour, a[kAttrBagColour]), d.bag_jitter));
  const Paint bag_dark(scaled(bag.base, 0.7f));
  const int bag_type = a[kAttrBagType];
  const double side = d.bag_on_left ? -1.0 : 1.0;

  // Behind the body: backpack sides (front view) and long hair.
  if (bag_type == 1 && !pose.back) rect(-ws / 2 - 0.035, 0.2, ws / 2 + 0.035, 0.43, bag);
  if (long_hair) rect(-0.075 * hv, 0.07, 0.075 * hv, pose.back ? 0.3 : 0.24, hair);

  // Legs (skin first when the garment is short), hips, skirt, shoes.
  const int lower_type = a[kAttrLowerType];
  const double foot = 0.955;
  for (double sgn : {-1.0, 1.0}) {
    const double hx = sgn * hw / 4;
    const double ax = sgn * (hw / 4 + pose.stance / 2);
    quad(hx - 0.047, waist, hx + 0.047, waist, ax + 0.036, foot, ax - 0.036, foot,
         lower_type == 0 ? lower : skin);
    if (lower_type == 1) {  // shorts down to mid thigh
      const double t = 0.4;
      const double kx = hx + (ax - hx) * t;
      const double kv = waist + (foot - waist) * t;
      quad(hx - 0.049, waist, hx + 0.049, waist, kx + 0.045, kv, kx - 0.045, kv, lower);
    }
    ellipse(ax + sgn * 0.01, foot + 0.012, 0.05, 0.03, shoes);
  }
  if (lower_type != 2) rect(-hw / 2, waist - 0.02, hw / 2, waist + 0.07, lower);
  if (lower_type == 2)
    quad(-hw / 2, waist - 0.02, hw / 2, waist - 0.02, hw / 2 + 0.06, 0.72, -hw / 2 - 0.06, 0.72,
         lower);

  // Arms: skin, then the sleeve; hands.
  const int upper_type = a[kAttrUpperType];
  const double sleeve_end = upper_type == 0 ? 0.29 + d.sleeve_shift : 0.46;
  for (double sgn : {-1.0, 1.0}) {
    const double sx = sgn * (ws / 2 - 0.02);
    const double hx = sgn * (ws / 2 + 0.025 + pose.swing);
    quad(sx - 0.03, 0.18, sx + 0.03, 0.18, hx + 0.026, 0.48, hx - 0.026, 0.48, skin);
    const double t = (sleeve_end - 0.18) / 0.30;
    const double ex = sx + (hx - sx) * t;
    quad(sx - 0.034, 0.175, sx + 0.034, 0.175, ex + 0.031, sleeve_end, ex - 0.031, sleeve_end,
         upper);
    ellipse(hx, 0.495, 0.027, 0.027, skin);
  }

  // Neck and torso (a coat reaches the knees).
  rect(-0.024, 0.13, 0.024, 0.19, skin);
  if (upper_type == 2) {
    quad(-ws / 2, 0.17, ws / 2, 0.17, hw / 2 + 0.04, 0.74, -hw / 2 - 0.04, 0.74, upper);
  } else {
    quad(-ws / 2, 0.17, ws / 2, 0.17, ww / 2, waist + 0.015, -ww / 2, waist + 0.015, upper);
  }
  if (upper_type != 0 && !pose.back) {  // jacket / coat: front opening
    rect(-0.009, 0.19, 0.009, upper_type == 2 ? 0.72 : waist, Paint(scaled(upper_rgb, 0.55f)));
  }
  if (d.has_logo && !pose.back) {
    rect(d.logo_x - d.logo_size / 2, d.logo_y - d.logo_size / 2, d.logo_x + d.logo_size / 2,
         d.logo_y + d.logo_size / 2, Paint(d.logo_colour));
  }

  // Bags in front of the torso.
  if (bag_type == 1) {
    if (pose.back) {
      rect(-ws / 2 + 0.01, 0.2, ws / 2 - 0.01, 0.45, bag);
      rect(-0.06, 0.34, 0.06, 0.43, bag_dark);
    } else {
      rect(-0.068, 0.17, -0.042, 0.40, bag_dark);
      rect(0.042, 0.17, 0.068, 0.40, bag_dark);
    }
  } else if (bag_type == 2) {
    const double x0 = side * (ws / 2 + 0.02 + pose.swing), x1 = x0 + side * 0.1;
    rect(std::min(x0, x1), 0.45, std::max(x0, x1), 0.57, bag);
  } else if (bag_type == 3) {
    const double top_x = -side * ws / 2 * 0.75;
    const double low_x = side * hw / 2;
    quad(top_x - 0.014, 0.17, top_x + 0.014, 0.17, low_x + 0.014, waist - 0.04, low_x - 0.014,
         waist - 0.04, bag_dark);
    const double b0 = side * (hw / 2 - 0.03), b1 = side * (hw / 2 + 0.08);
    rect(std::min(b0, b1), waist - 0.09, std::max(b0, b1), waist + 0.04, bag);
  }

  // Head, hair, hat. Seen from the back the head is all hair.
  if (pose.back) {
    ellipse(0, 0.082, 0.066 * hv, 0.08, hair);
    if (long_hair) rect(-0.07 * hv, 0.09, 0.07 * hv, 0.28, hair);
  } else {
    ellipse(0, 0.074, 0.066 * hv, 0.078, hair);
    ellipse(0, 0.094, 0.056, 0.064, skin);
    if (long_hair) {
      rect(-0.07 * hv, 0.17, -0.045, 0.27, hair);
      rect(0.045, 0.17, 0.07 * hv, 0.27, hair);
    }
  }
  const Paint hat(d.hat_colour);
  if (a[kAttrHat] == 1) {  // cap with a brim
    ellipse(0, 0.048, 0.069 * hv, 0.042, hat);
    if (!pose.back) rect(-0.07, 0.06, 0.085, 0.077, Paint(scaled(d.hat_colour, 0.8f)));
  } else if (a[kAttrHat] == 2) {  // beanie with a rim
    ellipse(0, 0.052, 0.071 * hv, 0.056, hat);
    rect(-0.07 * hv, 0.058, 0.07 * hv, 0.08, Paint(scaled(d.hat_colour, 0.8f)));
  }
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
    case OccluderKind::kNone:
      break;
  }
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
  out.image = canvas.finish(kSuper, camera.gain, camera.cast, camera.blur, camera.noise_sigma, rng);
  return out;
}

}  // namespace agreid::data
