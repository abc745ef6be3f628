// The pedestrian figure of the synthetic-world renderer (data/synth_render.h): a pose and the
// drawing of one person (head, hair, hat, torso with pattern and logo, arms, legs or skirt,
// shoes, bag) into a canvas, each shape tagged with the body region it belongs to. Private to
// the data library.
//
// Pure functions of their arguments; thread-safe.
#pragma once

#include "data/counter_rng.h"
#include "data/synth_canvas.h"
#include "data/synth_world.h"

namespace agreid::data {

inline Rgb add(Rgb a, Rgb b) { return {a.r + b.r, a.g + b.g, a.b + b.b}; }
inline Rgb scaled(Rgb a, float s) { return {a.r * s, a.g * s, a.b * s}; }

struct Pose {
  double cx = 0;    // canvas x of the body axis
  double top = 0;   // canvas y of the top of the head
  double size = 1;  // person height in canvas pixels
  bool back = false;
  double stance = 0.03;  // feet apart (person units)
  double swing = 0.0;    // arms outward
};

// Pose jitter (facing, stance, arm swing) for a person of `size` canvas pixels standing at `cx`
// with the feet at `feet_y`.
Pose samplePose(CounterRng& rng, double cx, double feet_y, double size);

// Draws `person` with `pose` into `canvas`, marking its pixels with `layer` and their body region.
void drawPerson(Canvas& c, const Person& person, const Pose& pose, Layer layer);

}  // namespace agreid::data
