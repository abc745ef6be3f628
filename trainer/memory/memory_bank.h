// ContrastiveMemoryBank: one momentum-updated, L2-normalised feature per identity, sharded across
// ranks (design.md §4.4). Rank r owns the contiguous rows [begin_r, end_r) of the N identities
// (the first N mod W ranks own one row more), so a rank holds N D / W floats.
//
// Each step (forward): every rank all-gathers the batch features and labels of all ranks (global
// batch = concatenation in rank order), scores them against its rows (logits = f . M_r^T / T),
// and a distributed softmax -- all-reduce of the row max, then of sum exp(logit - max) and of the
// target logit, which only its owner contributes -- gives the exact cross-entropy of every
// global row against the full bank. The gradient of a row's loss with respect to its feature,
// (softmax - onehot) . M / T, is assembled from per-rank partial products by one reduce-scatter
// (all-reduce when local batch sizes differ) inside forward, with the memory as it was before
// the update, so backward communicates nothing. Then each rank momentum-updates its own rows.
//
// Note [Memory update rule]: for every global row i in order (rank 0's rows first, each rank's
// rows in its local order) whose label y_i the rank owns:
//   M[y_i] <- normalize(momentum * M[y_i] + (1 - momentum) * f_i)
// sequentially (an identity seen twice in a batch is updated twice), as cluster-contrast's CM
// function does, with normalize(x) = x / max(|x|, 1e-12). f is used as given (callers
// L2-normalise it first if they want).
//
// Loss semantics: forward() returns the mean loss over THIS rank's rows; the mean over ranks is
// the loss of the global batch (equal local batch sizes), so gradients averaged over ranks by the
// GradientReducer equal the single-process gradients of the global batch.
//
// Thread-safety: none; one thread per rank. Every method marked "all ranks" is collective.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace agreid::comm {
class Communicator;
}

namespace agreid::trainer {

enum class MemoryLayout {
  kSharded,     // rank r holds only its slice (the default)
  kReplicated,  // every rank holds and updates all N rows (for comparison; no reductions)
};

struct MemoryBankOptions {
  int64_t num_identities = 0;
  int64_t dim = 0;
  double temperature = 0.05;
  double momentum = 0.2;
  MemoryLayout layout = MemoryLayout::kSharded;
  c10::ScalarType dtype = c10::kFloat;  // of the memory and the loss arithmetic
};

struct MemoryBankOutput {
  at::Tensor loss;           // scalar: mean loss over this rank's rows; differentiable
  double global_loss = 0.0;  // mean loss over the global batch (same value on every rank)
};

class ContrastiveMemoryBank {
 public:
  // Rows start at zero; fill them with loadFull, setShard or initializeRandom. `comm` must
  // outlive the bank. Not collective.
  ContrastiveMemoryBank(const MemoryBankOptions& opts, comm::Communicator& comm);

  // All ranks. features [b, D] float (b may differ between ranks), labels [b] int64 in [0, N).
  // Returns the loss, then updates the memory (Note [Memory update rule]).
  MemoryBankOutput forward(const at::Tensor& features, const at::Tensor& labels);

  // Rows owned by `rank` of `world` ranks for N identities: [begin, end).
  static std::pair<int64_t, int64_t> shardRange(int64_t num_identities, int rank, int world);

  int64_t shardBegin() const { return begin_; }
  int64_t shardEnd() const { return end_; }
  // This rank's rows [end - begin, D] (all N rows when replicated). Shares storage.
  const at::Tensor& shard() const { return memory_; }
  // Replaces this rank's rows (shape as shard()). Not collective.
  void setShard(const at::Tensor& rows);

  // All ranks: the full bank [N, D] on every rank (the shards all-gathered).
  at::Tensor gatherFull() const;
  // Not collective: takes this rank's rows of a full [N, D] bank, e.g. one saved in a checkpoint
  // at another world size. Throws InputError when the shape is not [N, D].
  void loadFull(const at::Tensor& full);
  // Not collective: rows from N(0, 1), normalised; row i depends only on (seed, i), so the bank
  // is the same at every world size.
  void initializeRandom(uint64_t seed);

  const MemoryBankOptions& options() const { return opts_; }

 private:
  MemoryBankOptions opts_;
  comm::Communicator& comm_;
  int64_t begin_ = 0;
  int64_t end_ = 0;
  at::Tensor memory_;  // [end - begin, D] float32
};

}  // namespace agreid::trainer
