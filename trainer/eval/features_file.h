// The features file: one HDF5 file holding the features of one split of a dataset, written by
// `agreid extract` and read by `agreid eval` (schema in docs/evaluation.md).
//
//   /features  float32 [N, D]   one row per sample
//   /pid       int64   [N]      person id (int32 is accepted on reading)
//   /camid     int64   [N]      0-based camera
//   /index     int64   [N]      sample index in the source dataset file
//   /occluded  int32   [N]      optional: 1 for an occluded sample
//   root string attributes: format_version ("1"), dataset (source dataset path),
//     dataset_checksum, split, kind ("reid" or "clip"), weights (checkpoint of the features)
//
// Files written by other tools (h5py with its defaults) read too: string attributes of fixed or
// variable length (an integer format_version as well), features of any float type (converted to
// float32), ids of any integer type, occluded as integers or numpy bools.
//
// Stored through ArrayFile (trainer/util/array_file.h): writing goes to a temporary file, which is
// renamed to `path` once complete, so a failure never leaves a half-written file. Reading validates
// every field and throws InputError naming the file and the field. Not thread-safe (HDF5); call
// from one thread at a time. No collectives.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace agreid::trainer {

inline constexpr int64_t kFeaturesFormatVersion = 1;

struct FeaturesInfo {
  std::string dataset;           // source dataset file path (as given to extract)
  std::string dataset_checksum;  // its content checksum
  std::string split;             // "query", "gallery", "train" or "all"
  std::string kind;              // "reid" (cat(f, f_proj), L2-normalised) or "clip" (projected)
  std::string weights;           // checkpoint the features were computed with
};

struct FeatureSet {
  at::Tensor features;            // float32 [N, D], CPU, contiguous
  std::vector<int64_t> pid;       // N
  std::vector<int64_t> camid;     // N
  std::vector<int64_t> index;     // N, sample index in the source dataset
  std::vector<uint8_t> occluded;  // N, or empty when unknown
  FeaturesInfo info;

  int64_t size() const { return static_cast<int64_t>(pid.size()); }
  int64_t dim() const;
  bool hasOccluded() const { return !occluded.empty(); }
};

// Throws InternalError when the fields disagree in length or the tensor is not float32 [N, D].
void checkFeatureSet(const FeatureSet& set);

// Writes `set` to `path` (tmp + rename). Throws InputError when the folder cannot be written.
void writeFeaturesFile(const std::string& path, const FeatureSet& set);

// Throws InputError naming `path` for: missing file, not HDF5, missing field, wrong element type
// or shape, fields of different lengths, a non-finite feature value, newer format version.
FeatureSet readFeaturesFile(const std::string& path);

// True when `path` is an HDF5 file with a format_version attribute and features/pid arrays.
// Never throws.
bool isFeaturesFile(const std::string& path);

// What `agreid inspect FILE` prints for a features file (reads and validates the whole file).
std::string describeFeaturesFile(const std::string& path);

}  // namespace agreid::trainer
