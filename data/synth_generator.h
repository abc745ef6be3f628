// Generation of the synthetic world's dataset files (docs/synthetic-world.md):
//
//   <dir>/reid.h5      identities 1..N: the first half train (labels 0..), the second half test,
//                      split into queries (occluded_query_fraction occluded) and a mostly
//                      holistic gallery; every query has a gallery image of its identity in
//                      another camera. Ground-truth attributes, occluded flags, a caption and
//                      the visible fraction of each attribute's body region per image.
//   <dir>/pretrain.h5  captioned pretraining set of `pretrain_identities` other people (pids
//                      after N), all split train, labels = identity index.
//
// Deterministic from SynthOptions (same options -> byte-identical files): every random draw comes
// from a CounterRng keyed by (seed, stream, item), so rendering may use several threads.
// Files are written through DatasetWriter (tmp + rename); when writing pretrain.h5 fails or is
// stopped, the reid.h5 of the same call is removed too, so that a world is whole or absent. Not
// collective: call on one rank.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/jpeg_codec.h"
#include "data/options.h"

namespace agreid::data {

struct SynthGenerateOptions {
  int64_t threads = 0;  // rendering threads; 0: hardware concurrency
  // Called before each image is rendered (from the rendering threads) and written; it may throw
  // to stop (e.g. on SIGTERM): the exception propagates and no partial file is left.
  std::function<void()> check_stop;
  // Called after each image is rendered, from the rendering threads one at a time (progress).
  std::function<void()> rendered;
};

// The number of images generateSynthWorld renders (both files).
int64_t synthImageCount(const SynthOptions& options);

struct SynthSummary {
  int64_t train_images = 0, query_images = 0, gallery_images = 0, pretrain_images = 0;
  int64_t train_identities = 0, test_identities = 0, pretrain_identities = 0;
  int64_t occluded_queries = 0, occluded_gallery = 0, occluded_train = 0;
  int64_t lookalike_identities = 0;  // re-ID identities made as look-alikes of an earlier one
  std::string reid_path, pretrain_path;
};

// Throws InputError for options that cannot form a world (e.g. fewer than 2 identities per half).
SynthSummary generateSynthWorld(const SynthOptions& options, const std::string& out_dir,
                                const SynthGenerateOptions& generate = {});

// The re-ID samples as records (JPEG, metadata, attributes, caption), in file order. Used by
// generateSynthWorld and by tools that need the images without a file (preview, benchmarks).
std::vector<SampleRecord> renderReidSamples(const SynthOptions& options,
                                            const SynthGenerateOptions& generate = {});
std::vector<SampleRecord> renderPretrainSamples(const SynthOptions& options,
                                                const SynthGenerateOptions& generate = {});

// A preview grid for the docs: `columns` test identities, each with one holistic gallery image
// (top row) and one occluded query (bottom row) exactly as in reid.h5, upscaled `upscale` times
// (nearest neighbour) with a 2-pixel gap. `captions` lists the cells row by row.
struct SynthPreview {
  RgbImage grid;
  std::vector<std::string> captions;
};
SynthPreview renderSynthPreview(const SynthOptions& options, int64_t columns, int64_t upscale);

WriterOptions synthWriterOptions(const std::string& name, const SynthOptions& options);

}  // namespace agreid::data
