// Options of the data library. Plain structs with their defaults; launch/config_schema.cc maps
// TOML keys onto these fields (one line each, with a description) and docs/configuration.md
// lists them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace agreid::data {

// Image transforms (method.md §1.5). Train: resize, flip, pad + random crop, normalise, random
// erasing. Test: resize, normalise.
struct TransformOptions {
  int64_t height = 256;
  int64_t width = 128;
  double flip_prob = 0.5;
  int64_t pad = 10;
  double erasing_prob = 0.5;
  std::vector<double> mean = {0.5, 0.5, 0.5};
  std::vector<double> std = {0.5, 0.5, 0.5};
};

struct LoaderOptions {
  int64_t num_workers = 2;         // decode/augment threads per process
  int64_t prefetch_batches = 4;    // bounded queue depth
  bool hdf5_file_locking = false;  // off: safe on NFS/Lustre/GPFS (docs/data-format.md)
  bool pin_memory = true;          // page-locked batches when CUDA is available (no-op on CPU)
};

// P identities x K instances per global batch (method.md §1.4).
struct SamplerOptions {
  int64_t identities_per_batch = 16;   // P
  int64_t instances_per_identity = 4;  // K
};

// The synthetic occluded-pedestrian world (design.md §8).
struct SynthOptions {
  uint64_t seed = 7;
  int64_t identities = 200;          // re-ID identities (half train, half test)
  int64_t images_per_identity = 16;  // per identity, spread over the cameras
  int64_t cameras = 4;
  int64_t height = 64;
  int64_t width = 32;
  double query_fraction = 0.2;           // of each test identity's images, taken as queries
  double occluded_query_fraction = 1.0;  // Occluded-Duke-like: occluded queries
  double occluded_gallery_fraction = 0.1;
  double occluded_train_fraction = 0.3;
  // Probability that a new identity copies every attribute of an earlier identity of its group
  // (train, test, pretraining) with fresh details: a look-alike.
  double lookalike_fraction = 0.2;
  // Probability per image of a region occluder: a panel hiding most of one body region (head,
  // upper body, lower body, feet or bag), on top of any occluder of the occluded_* fractions.
  double region_occluders = 0.0;
  // Probability per image that its caption is short: 1 to short_caption_attributes attributes at
  // random, phrased like the zero-shot readout prompts (shortCaption), instead of a description
  // of the whole person.
  double short_captions = 0.0;
  // A short caption names 1 to this many attributes (uniformly). 1: every short caption is one
  // readout prompt, shared by every person with that value.
  int64_t short_caption_attributes = 3;
  int64_t pretrain_identities = 1500;  // identities of the captioned pretraining set (disjoint)
  int64_t pretrain_images = 12000;
  int64_t jpeg_quality = 90;
};

}  // namespace agreid::data
