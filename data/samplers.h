// Samplers: which dataset samples each rank processes, batch by batch.
//
// IdentitySampler (training, P identities x K instances, CLIP-ReID's RandomIdentitySampler
// semantics): per epoch, each identity's samples are shuffled and cut into chunks of K (identities
// with fewer than K samples are drawn K times with replacement; a last partial chunk is dropped);
// then global batches are drawn as P random identities that still have chunks, each giving its
// next chunk, until fewer than P identities remain. The sequence of GLOBAL batches depends only on
// (seed, epoch) and the dataset; every rank computes it, and rank r of W takes the whole
// identities [r*P/W, (r+1)*P/W) of each global batch. So the union over ranks of one step's
// batches is the same global batch for any W dividing P, and all ranks get the same number of
// batches.
//
// ShardedSequentialSampler (inference): rank r gets the contiguous range [r*N/W, (r+1)*N/W) of
// the N samples, so gathering the ranks' outputs in rank order restores dataset order and every
// sample is covered exactly once. Batch counts may differ by one between ranks.
//
// Both are immutable after construction and thread-safe; no collective is involved (ranks agree by
// computing the same thing).
#pragma once

#include <cstdint>
#include <vector>

#include "data/options.h"

namespace agreid::data {

struct ShardOptions {
  int64_t rank = 0;
  int64_t world_size = 1;
};

class IdentitySampler {
 public:
  // `indices[i]` is a dataset sample index and `identities[i]` its identity (training label or
  // pid; any integers). Throws InputError when W does not divide P, when K < 1, or when fewer than
  // P identities exist.
  IdentitySampler(std::vector<int64_t> indices, std::vector<int64_t> identities,
                  SamplerOptions options, uint64_t seed, ShardOptions shard = {});

  // All global batches of `epoch` (each P*K indices, identity-major: K consecutive per identity).
  std::vector<std::vector<int64_t>> globalBatches(int64_t epoch) const;
  // This rank's part of each global batch (each (P/W)*K indices); the same count on all ranks.
  std::vector<std::vector<int64_t>> epochBatches(int64_t epoch) const;

  int64_t numIdentities() const { return static_cast<int64_t>(identity_samples_.size()); }
  int64_t globalBatchSize() const {
    return options_.identities_per_batch * options_.instances_per_identity;
  }
  int64_t localBatchSize() const { return globalBatchSize() / shard_.world_size; }

 private:
  SamplerOptions options_;
  uint64_t seed_;
  ShardOptions shard_;
  std::vector<std::vector<int64_t>> identity_samples_;  // sample indices per identity, sorted by id
};

class ShardedSequentialSampler {
 public:
  ShardedSequentialSampler(std::vector<int64_t> indices, int64_t batch_size,
                           ShardOptions shard = {});

  // This rank's contiguous range of `indices`, as [begin, end) positions.
  int64_t begin() const { return begin_; }
  int64_t end() const { return end_; }
  // This rank's batches (the last one may be short; none when the range is empty).
  std::vector<std::vector<int64_t>> batches() const;

 private:
  std::vector<int64_t> indices_;
  int64_t batch_size_;
  int64_t begin_ = 0;
  int64_t end_ = 0;
};

}  // namespace agreid::data
