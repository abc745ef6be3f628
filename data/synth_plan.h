// Plans of the synthetic world's files (data/synth_generator.h): which image of which person,
// camera, split, label and occlusion goes where, in file order. Private to the data library.
//
// Pure functions of the options; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/options.h"

namespace agreid::data {

// Random streams of the plans (the generator's other streams are 1-3, 5 and 7-9).
inline constexpr uint64_t kReidPlanStream = 4;
inline constexpr uint64_t kPretrainPlanStream = 6;

// One image to render.
struct SynthJob {
  int64_t person = 0;  // index into the people vector
  int32_t pid = 0;
  int16_t camid = 0;
  Split split = Split::kTrain;
  int32_t label = -1;
  bool occluded = false;
  std::string path;
};

// Throws InputError for options that cannot form a world (e.g. fewer than 2 identities per half).
void validateSynthOptions(const SynthOptions& o);

// reid.h5: per identity its images, the first half train, the second half queries (every one with
// a gallery image of its identity in another camera) and gallery.
std::vector<SynthJob> planReid(const SynthOptions& o);
// pretrain.h5: pretrain_images images cycling over the pretrain_identities people.
std::vector<SynthJob> planPretrain(const SynthOptions& o);

}  // namespace agreid::data
