#include "data/synth_figure.h"

#include <algorithm>

namespace agreid::data {

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
  c.setRegion(BodyRegion::kBag);
  if (bag_type == 1 && !pose.back) rect(-ws / 2 - 0.035, 0.2, ws / 2 + 0.035, 0.43, bag);
  c.setRegion(BodyRegion::kHead);
  if (long_hair) rect(-0.075 * hv, 0.07, 0.075 * hv, pose.back ? 0.3 : 0.24, hair);

  // Legs (skin first when the garment is short), hips, skirt, shoes.
  const int lower_type = a[kAttrLowerType];
  const double foot = 0.955;
  for (double sgn : {-1.0, 1.0}) {
    const double hx = sgn * hw / 4;
    const double ax = sgn * (hw / 4 + pose.stance / 2);
    c.setRegion(BodyRegion::kLowerBody);
    quad(hx - 0.047, waist, hx + 0.047, waist, ax + 0.036, foot, ax - 0.036, foot,
         lower_type == 0 ? lower : skin);
    if (lower_type == 1) {  // shorts down to mid thigh
      const double t = 0.4;
      const double kx = hx + (ax - hx) * t;
      const double kv = waist + (foot - waist) * t;
      quad(hx - 0.049, waist, hx + 0.049, waist, kx + 0.045, kv, kx - 0.045, kv, lower);
    }
    c.setRegion(BodyRegion::kFeet);
    ellipse(ax + sgn * 0.01, foot + 0.012, 0.05, 0.03, shoes);
  }
  c.setRegion(BodyRegion::kLowerBody);
  if (lower_type != 2) rect(-hw / 2, waist - 0.02, hw / 2, waist + 0.07, lower);
  if (lower_type == 2)
    quad(-hw / 2, waist - 0.02, hw / 2, waist - 0.02, hw / 2 + 0.06, 0.72, -hw / 2 - 0.06, 0.72,
         lower);

  // Arms: skin, then the sleeve; hands.
  const int upper_type = a[kAttrUpperType];
  const double sleeve_end = upper_type == 0 ? 0.29 + d.sleeve_shift : 0.46;
  c.setRegion(BodyRegion::kUpperBody);
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
  c.setRegion(BodyRegion::kHead);
  rect(-0.024, 0.13, 0.024, 0.19, skin);
  c.setRegion(BodyRegion::kUpperBody);
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
  c.setRegion(BodyRegion::kBag);
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
  c.setRegion(BodyRegion::kHead);
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
  c.setRegion(BodyRegion::kNone);
}

}  // namespace agreid::data
