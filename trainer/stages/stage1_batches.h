// Stage 1's batches over sharded cached features (pseudo_label.h, step 2).
//
// The N cached features stay where the feature pass encoded them: rank r of W holds rows
// [r*N/W, (r+1)*N/W) of the training set (ShardedSequentialSampler's split), n_r of them. An
// epoch has ceil(N/B) steps for a global batch of B. In epoch e, rank r visits its own rows in a
// permutation drawn from (seed, e, r); at step b it takes positions
// [floor(s*n_r/N), floor(t*n_r/N)) of it, where [s, t) = [b*B, min((b+1)*B, N)) is step b's range
// of a one-process epoch. Hence:
//   - every rank visits each of its rows exactly once per epoch, and all ranks take the same
//     number of steps;
//   - the global batch (the ranks' rows gathered in rank order) holds t - s images give or take
//     W - 1, each rank contributing in proportion to its shard: a stratified random sample of the
//     training set (stage 1 draws images, not P identities x K images as stage 2's
//     IdentitySampler does);
//   - with W = 1 the batches are exactly those of the unsharded loop: a permutation of all N rows
//     seeded by (seed, e), cut into consecutive chunks of B;
//   - the batches depend only on (seed, W, N, B, epoch, step): resume is exact.
// Stage1Batches is immutable and involves no collective; gatherBatchRows joins a step's rows.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace agreid::comm {
class Communicator;
}

namespace agreid::trainer {

class Stage1Batches {
 public:
  // Throws InputError when total < 1, batch_size < 1 or batch_size < world (a global batch could
  // then be empty).
  Stage1Batches(int64_t total, int64_t batch_size, int world, uint64_t seed);

  int64_t stepsPerEpoch() const { return (total_ + batch_size_ - 1) / batch_size_; }
  int64_t total() const { return total_; }
  int world() const { return world_; }
  // Rank r's shard: rows [shardBegin(r), shardBegin(r) + shardSize(r)) of the training set.
  int64_t shardBegin(int rank) const { return total_ * rank / world_; }
  int64_t shardSize(int rank) const { return shardBegin(rank + 1) - shardBegin(rank); }

  // Positions [begin, end) of rank's epoch permutation that `step` takes.
  std::pair<int64_t, int64_t> positions(int rank, int64_t step) const;
  // The number of rows every rank contributes to `step`, in rank order.
  std::vector<int64_t> counts(int64_t step) const;
  // Rank's permutation of its shard (rows 0..shardSize(rank)-1, int64) for `epoch`.
  at::Tensor epochOrder(int rank, int64_t epoch) const;

 private:
  int64_t total_;
  int64_t batch_size_;
  int world_;
  uint64_t seed_;
};

// The global batch from every rank's rows: `local` is this rank's [counts[rank], ...]; returns all
// ranks' rows in rank order, [sum of counts, ...]. The counts (Stage1Batches::counts) are known on
// every rank, so the rows are padded to the largest count for an equal-shape all-gather and the
// padding is dropped after it: nothing is read back from the device. With `grad` it is
// differentiable with allGatherWithGrad's convention (comm/all_gather_autograd.h). Collective.
at::Tensor gatherBatchRows(comm::Communicator& comm, const at::Tensor& local,
                           const std::vector<int64_t>& counts, bool grad);

}  // namespace agreid::trainer
