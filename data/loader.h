// Loader: batches of decoded, transformed images from a dataset file, prepared ahead on threads.
//
//   I/O thread (one per loader; HDF5 calls only here) -- reads each batch's JPEG bytes, one
//       readJpegRange per run of consecutive indices, and hands the samples to the workers;
//   worker pool (LoaderOptions.num_workers) -- decodes (libjpeg-turbo) and transforms each sample
//       straight into its slot of the batch tensor;
//   bounded prefetch -- at most LoaderOptions.prefetch_batches batches in flight;
//   next() -- returns the batches in order.
//
// The batches (lists of sample indices, e.g. from IdentitySampler::epochBatches) are fixed at
// construction; `start_batch` skips the first ones for mid-epoch resume. Random augmentation is
// keyed by (seed, epoch, sample index), so the result does not depend on threads or timing.
//
// Errors: a corrupt JPEG or a failed read surfaces from next() as the InputError of that batch
// (naming the file, the sample index and its source path). The constructor throws InputError for
// a missing or invalid dataset file and for out-of-range indices.
//
// Destroying a loader mid-epoch stops and joins its threads (no hang, no leak). A Loader is used
// from one thread; it is not collective.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/options.h"
#include "data/transforms.h"

namespace agreid::data {

struct Batch {
  at::Tensor images;    // [B, 3, H, W] float32
  at::Tensor pid;       // int64 [B]
  at::Tensor camid;     // int64 [B]
  at::Tensor label;     // int64 [B]
  at::Tensor index;     // int64 [B], dataset sample index
  at::Tensor occluded;  // int64 [B], 0/1
};

struct LoaderPlan {
  std::vector<std::vector<int64_t>> batches;  // sample indices per batch
  int64_t start_batch = 0;                    // first batch to produce (mid-epoch resume)
  TransformMode mode = TransformMode::kTest;
  TransformOptions transform;
  uint64_t seed = 0;
  int64_t epoch = 0;
};

class Loader {
 public:
  Loader(const std::string& dataset_path, LoaderPlan plan, LoaderOptions options = {});
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // The next batch in order; std::nullopt after the last one.
  std::optional<Batch> next();

  // Batches this loader produces in total (plan size minus start_batch).
  int64_t size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace agreid::data
