#include "comm/gradient_reducer.h"

#include <ATen/ATen.h>

#include <unordered_set>

#include "base/check.h"

namespace agreid::comm {

struct GradientReducer::Bucket {
  at::Tensor flat;             // 1-D, the concatenated gradients of `params`
  std::vector<size_t> params;  // parameter indices, in reverse registration order
  size_t ready = 0;
  std::unique_ptr<Work> work;  // set between launch and finalize()
};

GradientReducer::GradientReducer(Communicator& comm, std::vector<at::Tensor> parameters,
                                 std::vector<at::Tensor> buffers, const ReducerOptions& opts)
    : comm_(comm), opts_(opts), params_(std::move(parameters)) {
  AGREID_CHECK(opts.bucket_cap_bytes > 0 && opts.first_bucket_cap_bytes > 0,
               "GradientReducer: bucket caps must be positive");
  std::unordered_set<const void*> seen;
  for (size_t i = 0; i < params_.size(); ++i) {
    AGREID_CHECK(params_[i].defined(), "GradientReducer: parameter ", i, " is undefined");
    AGREID_CHECK(seen.insert(params_[i].unsafeGetTensorImpl()).second,
                 "GradientReducer: parameter ", i, " is listed twice");
  }
  {
    at::AutoGradMode no_grad(false);
    for (auto& p : params_) comm_.broadcast(p, {0, opts_.timeout});
    for (auto& b : buffers) comm_.broadcast(b, {0, opts_.timeout});
  }

  // Buckets in reverse registration order (see Note [Bucket order] in the header).
  slots_.resize(params_.size());
  has_slot_.assign(params_.size(), false);
  ready_.assign(params_.size(), false);
  std::vector<int64_t> bucket_numel;
  int64_t open_bytes = 0;
  for (size_t k = params_.size(); k-- > 0;) {
    const at::Tensor& p = params_[k];
    if (!p.requires_grad()) continue;
    AGREID_CHECK(c10::isFloatingType(p.scalar_type()), "GradientReducer: parameter ", k,
                 " has non-floating dtype ", c10::toString(p.scalar_type()));
    const int64_t bytes = p.numel() * static_cast<int64_t>(p.element_size());
    // The open bucket is buckets_.back(); the first one has the smaller cap.
    const int64_t cap =
        buckets_.size() == 1 ? opts_.first_bucket_cap_bytes : opts_.bucket_cap_bytes;
    bool open_new = buckets_.empty();
    if (!open_new) {
      const at::Tensor& first = params_[buckets_.back().params.front()];
      open_new = first.scalar_type() != p.scalar_type() || first.device() != p.device() ||
                 open_bytes + bytes > cap;
    }
    if (open_new) {
      buckets_.emplace_back();
      bucket_numel.push_back(0);
      open_bytes = 0;
    }
    Bucket& bucket = buckets_.back();
    slots_[k] = {buckets_.size() - 1, bucket_numel.back()};
    has_slot_[k] = true;
    bucket.params.push_back(k);
    bucket_numel.back() += p.numel();
    open_bytes += bytes;
  }
  for (size_t b = 0; b < buckets_.size(); ++b) {
    const at::Tensor& first = params_[buckets_[b].params.front()];
    buckets_[b].flat = at::zeros({bucket_numel[b]}, first.options());
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!has_slot_[i]) continue;
    hook_handles_.push_back(
        params_[i].register_hook([this, i](const at::Tensor& grad) { onGradient(i, grad); }));
  }
}

GradientReducer::~GradientReducer() {
  size_t h = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (has_slot_[i]) params_[i].remove_hook(hook_handles_[h++]);
  }
}

GradientReducer::NoSync::NoSync(GradientReducer& reducer)
    : reducer_(reducer), previous_(reducer.sync_enabled_) {
  reducer_.sync_enabled_ = false;
}

GradientReducer::NoSync::~NoSync() { reducer_.sync_enabled_ = previous_; }

std::vector<std::vector<size_t>> GradientReducer::bucketLayout() const {
  std::vector<std::vector<size_t>> layout;
  for (const auto& b : buckets_) layout.push_back(b.params);
  return layout;
}

void GradientReducer::onGradient(size_t index, const at::Tensor& grad) {
  if (!sync_enabled_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  AGREID_CHECK(!ready_[index], "GradientReducer: parameter ", index,
               " received a second gradient before finalize(); call finalize() after each "
               "synchronised backward");
  const at::Tensor& param = params_[index];
  Bucket& bucket = buckets_[slots_[index].bucket];
  at::AutoGradMode no_grad(false);
  at::Tensor slot = bucket.flat.narrow(0, slots_[index].offset, param.numel()).view(param.sizes());
  slot.copy_(grad);
  const at::Tensor& accumulated = param.grad();  // earlier NoSync micro-batches
  if (accumulated.defined()) slot.add_(accumulated);
  ready_[index] = true;
  if (++bucket.ready == bucket.params.size()) launchCompleteBucketsLocked();
}

void GradientReducer::launchCompleteBucketsLocked() {
  while (next_launch_ < buckets_.size() &&
         buckets_[next_launch_].ready == buckets_[next_launch_].params.size()) {
    launchLocked(buckets_[next_launch_++]);
  }
}

void GradientReducer::launchLocked(Bucket& bucket) {
  bucket.work = comm_.allReduce(bucket.flat, {ReduceOp::kAvg, opts_.timeout});
}

void GradientReducer::finalize() {
  AGREID_CHECK(sync_enabled_, "GradientReducer::finalize() called inside a NoSync scope");
  std::lock_guard<std::mutex> lock(mutex_);
  at::AutoGradMode no_grad(false);
  // Parameters without a gradient this step contribute their local accumulation, or zeros.
  for (; next_launch_ < buckets_.size(); ++next_launch_) {
    Bucket& bucket = buckets_[next_launch_];
    for (size_t index : bucket.params) {
      if (ready_[index]) continue;
      const at::Tensor& param = params_[index];
      at::Tensor slot = bucket.flat.narrow(0, slots_[index].offset, param.numel());
      if (param.grad().defined()) {
        slot.view(param.sizes()).copy_(param.grad());
      } else {
        slot.zero_();
      }
    }
    launchLocked(bucket);
  }
  for (Bucket& bucket : buckets_) {
    bucket.work->wait();
    bucket.work.reset();
    for (size_t index : bucket.params) {
      at::Tensor& param = params_[index];
      at::Tensor averaged =
          bucket.flat.narrow(0, slots_[index].offset, param.numel()).view(param.sizes());
      if (param.grad().defined()) {
        param.mutable_grad().copy_(averaged);
      } else {
        param.mutable_grad() = averaged.clone();
      }
      ready_[index] = false;
    }
    bucket.ready = 0;
  }
  next_launch_ = 0;
}

}  // namespace agreid::comm
