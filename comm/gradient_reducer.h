// GradientReducer: data-parallel gradient averaging in the style of PyTorch DDP, for any
// Communicator.
//
// Construction broadcasts the parameters and buffers from rank 0 (every rank must construct it, at
// the same point, with the same tensors in the same order), assigns the parameters that require
// gradients to buckets in REVERSE registration order -- the order backward produces gradients --
// (first bucket up to `first_bucket_cap_bytes`, then `bucket_cap_bytes`; a bucket holds one dtype),
// and registers a gradient hook on each. During backward the hook copies the parameter's gradient
// (plus any gradient already accumulated in param.grad() by NoSync micro-batches) into its slot
// of the bucket's flat buffer; once a bucket is complete, and all buckets before it have been
// launched, it is all-reduced asynchronously (ReduceOp::kAvg) while backward goes on. See
// Note [Bucket order].
//
// finalize() -- call it after each synchronised backward, on every rank -- launches the buckets
// that are not complete, with zeros (or the locally accumulated gradient) for parameters that got
// no gradient, waits for every bucket and writes the averages into param.grad(). Gradients keep
// accumulating in param.grad() as with plain LibTorch: zero them after each optimizer step.
//
// Gradient accumulation: inside a NoSync scope the hooks do nothing, so gradients only accumulate
// locally; the backward of the last micro-batch runs outside it and reduces the sum.
//
// Note [Bucket order]: every bucket is reduced exactly once per step, in bucket order, on every
// rank. A bucket that is complete early waits for its predecessors, so ranks whose backward
// produced gradients in a different order, or that did not use some parameters, still issue the
// same collectives in the same order: no deadlock.
//
// Thread-safety: hooks may run on an autograd worker thread; they and finalize() are serialised
// by an internal mutex. The reducer must outlive every backward over its parameters; its
// destructor removes the hooks. The communicator must outlive the reducer.
#pragma once

#include <ATen/core/Tensor.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "comm/communicator.h"

namespace agreid::comm {

struct ReducerOptions {
  int64_t bucket_cap_bytes = int64_t{25} << 20;
  int64_t first_bucket_cap_bytes = int64_t{1} << 20;
  std::chrono::milliseconds timeout = kDefaultTimeout;  // per bucket all-reduce and broadcast
};

class GradientReducer {
 public:
  GradientReducer(Communicator& comm, std::vector<at::Tensor> parameters,
                  std::vector<at::Tensor> buffers = {}, const ReducerOptions& opts = {});
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Completes the step: see the header comment. Collective: every rank must call it.
  void finalize();

  // RAII: gradients of the backward passes inside the scope only accumulate locally.
  class NoSync {
   public:
    explicit NoSync(GradientReducer& reducer);
    ~NoSync();
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;

   private:
    GradientReducer& reducer_;
    bool previous_;
  };

  bool syncEnabled() const { return sync_enabled_; }

  // Parameter indices (into the constructor's list) of each bucket, in launch order.
  std::vector<std::vector<size_t>> bucketLayout() const;

 private:
  struct Bucket;
  struct Slot {
    size_t bucket = 0;
    int64_t offset = 0;  // elements into the bucket's flat buffer
  };

  void onGradient(size_t index, const at::Tensor& grad);
  void launchCompleteBucketsLocked();
  void launchLocked(Bucket& bucket);

  Communicator& comm_;
  ReducerOptions opts_;
  std::vector<at::Tensor> params_;
  std::vector<Slot> slots_;  // per parameter; only meaningful where has_slot_
  std::vector<bool> has_slot_;
  std::vector<bool> ready_;
  std::vector<Bucket> buckets_;
  std::vector<unsigned> hook_handles_;  // per parameter with a slot, in registration order
  size_t next_launch_ = 0;
  bool sync_enabled_ = true;
  std::mutex mutex_;
};

}  // namespace agreid::comm
