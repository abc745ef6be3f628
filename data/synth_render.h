// Rendering of the synthetic world: a stylised pedestrian (head, hair, hat, torso with pattern
// and logo, arms, legs or skirt, shoes, bag) drawn at 2x supersampling into an H x W RGB image
// with pose jitter; a per-camera look (background colour and texture, person scale, illumination
// gain, colour cast, blur, sensor noise); and an optional occluder in front (pole, car, another
// person, bush, bin, suitcase) placed so that it hides 20-50% of the person's pixels; an optional
// region occluder (a panel in front of one body region); and, per attribute, the visible fraction
// of the body region it is read from.
//
// Pure functions of their arguments (all randomness comes from the CounterRng passed in);
// thread-safe.
#pragma once

#include <array>
#include <cstdint>

#include "data/jpeg_codec.h"
#include "data/synth_world.h"

namespace agreid::data {

struct CameraStyle {
  Rgb wall, ground, texture;
  double horizon = 0.6;          // wall/ground boundary, fraction of the image height
  int texture_kind = 0;          // 0 plain, 1 bricks, 2 panels, 3 floor tiles
  double texture_period = 0.08;  // fraction of the image height
  double gain = 1.0;             // illumination
  Rgb cast{1, 1, 1};             // per-channel colour cast (multiplicative)
  double person_height = 0.82;   // person height as a fraction of the image height
  bool blur = false;
  double noise_sigma = 3.0;  // sensor noise, 8-bit units
};

CameraStyle sampleCamera(CounterRng& rng);

// Occlusion accepted as "occluded": this fraction of the person's pixels hidden.
inline constexpr double kMinOccludedFraction = 0.2;
inline constexpr double kMaxOccludedFraction = 0.5;

struct RenderSpec {
  int64_t height = 64;
  int64_t width = 32;
  bool occluded = false;
  // A region occluder (synth.region_occluders): a panel in front of this body region (kNone:
  // none), covering its width and 60-100% of its height. It draws only from `region_rng`, so the
  // rest of the image comes out exactly as without it.
  BodyRegion region_occluder = BodyRegion::kNone;
  CounterRng region_rng{0};
};

// The body region a region occluder hides: uniform over head, upper body, lower body, feet and
// (when the person carries one) the bag.
BodyRegion sampleOccludedRegion(const Person& person, CounterRng& rng);

struct RenderedImage {
  RgbImage image;
  OccluderKind occluder = OccluderKind::kNone;
  double occluded_fraction = 0.0;  // of the person's pixels, measured on the rendered canvas
  BodyRegion region_occluder = BodyRegion::kNone;  // the region a panel was drawn in front of
  // Per attribute (synth_world.h order): the visible fraction of the body region it is read from
  // (attributeRegion), after all occluders: its visible pixels over its pixels in the holistic
  // render. 1 for a region without pixels.
  std::array<float, kNumSynthAttributes> visibility{};
};

RenderedImage renderPedestrian(const Person& person, const CameraStyle& camera,
                               const RenderSpec& spec, CounterRng& rng);

}  // namespace agreid::data
