// The pseudo-label cache: the output of stage 1, content-addressed so that every node, every rerun
// and every sweep task with the same stage-1 inputs reuses it instead of recomputing.
//
// Key = SHA-1 over (SHA-1 of the weights file, dataset checksum, prompt template, stage-1
// settings). The dataset checksum is verified against the file's content first
// (verifiedDatasetChecksum), so that a dataset altered after import never reuses the intact
// file's cache. File = <cache_dir>/pseudo-labels-<key>.h5, written to a temporary file and renamed
// into place (readers never see a partial file). Concurrent jobs with the same key: the first
// takes an exclusive flock() on <file>.lock and computes; the others block on the lock and then
// read the file (docs/pipeline.md).
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/log.h"
#include "data/dataset.h"

namespace agreid::trainer {

// 2: the identities' image centres replace version 1's per-image features and labels (a cache of
// O(identities), not O(images)); version-1 files are still read (their centres are derived).
inline constexpr int kCacheFormatVersion = 2;

struct PseudoLabelCache {
  std::string key;
  std::string settings;      // human-readable stage-1 settings that went into the key
  at::Tensor tokens;         // V: [num_ids, r, token_width] learned prompt tokens
  at::Tensor text_features;  // [num_ids, embed_dim] prompt text features of every identity
  // [num_ids, embed_dim]: per identity, the unit-length mean of its L2-normalised cached image
  // features (identityCentres); stage 2's memory bank starts from them.
  at::Tensor identity_centres;
  std::vector<std::pair<std::string, at::Tensor>> encoder;  // E_A parameters (empty: none)
  std::vector<std::string> readout_names;                   // attribute groups read out
  at::Tensor readout;        // [num_ids, groups] int64 predicted value (undefined: none)
  at::Tensor readout_truth;  // [num_ids, groups] int64 ground truth (undefined: unknown)
  // Token-block probe (attribute_tokens.h): [attributes, blocks] double (undefined: none).
  std::vector<std::string> probe_attributes, probe_blocks;
  at::Tensor probe_accuracy;
};

// Lower-case hex SHA-256 (OpenSSL) of a file's bytes. Throws InputError when unreadable.
std::string sha256File(const std::string& path);
std::string sha256Hex(const std::string& bytes);

std::string cacheKey(const std::string& weights_sha256, const std::string& dataset_checksum,
                     const std::string& template_text, const std::string& settings);

// The checksum stored in the dataset file after recomputing it from the content (every image and
// field is read; docs/pipeline.md gives the cost). Throws InputError naming the file when they
// differ: the file was altered after it was written.
std::string verifiedDatasetChecksum(const data::DatasetReader& dataset);

std::string cachePath(const std::string& cache_dir, const std::string& key);

// Per identity, the sum of its L2-normalised image features: [num_ids, D] from features [n, D]
// and labels [n] int64 in 0..num_ids-1. Sums over shards add up (an all-reduce of the ranks'
// sums); identityCentres scales the summed rows to unit length (rows of no image stay zero).
at::Tensor identityFeatureSums(const at::Tensor& features, const at::Tensor& labels,
                               int64_t num_ids);
at::Tensor identityCentres(const at::Tensor& sums);

// Throws InputError naming `path` and the tensor when a tensor holds NaN or Inf (stage 1
// diverged): such a cache is never written.
void writeCache(const std::string& path, const PseudoLabelCache& cache);

// Reads the cache at `path`. Returns nullopt, with a warning through `log`, when the file exists
// but is truncated, unreadable or holds another key -- the caller then recomputes. Returns
// nullopt silently when the file does not exist. A complete cache of the right key whose content
// no stage-1 run produces -- tensors of the wrong rank, dtype or mutually inconsistent shapes,
// labels out of range, NaN or Inf -- throws InputError naming the file and the tensor.
std::optional<PseudoLabelCache> readCache(const std::string& path, const std::string& key,
                                          const Log& log);

// True when `path` is an HDF5 file written by writeCache.
bool isCacheFile(const std::string& path);

// What `agreid inspect CACHE` prints.
std::string describeCache(const std::string& path);

// An exclusive advisory lock on <path>.lock, held for the object's lifetime (blocking).
class CacheLock {
 public:
  explicit CacheLock(const std::string& cache_file);
  ~CacheLock();
  CacheLock(const CacheLock&) = delete;
  CacheLock& operator=(const CacheLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace agreid::trainer
