#include "trainer/memory/memory_bank.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <limits>

#include "base/check.h"
#include "base/error.h"
#include "comm/communicator.h"

namespace agreid::trainer {
namespace {

constexpr int64_t kInitChunkRows = 4096;
constexpr double kNormEps = 1e-12;

// A scalar whose value was computed outside autograd and whose gradient w.r.t. `features` is the
// precomputed tensor `grad` (scaled by the incoming gradient).
class PrecomputedGradLoss : public torch::autograd::Function<PrecomputedGradLoss> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& features,
                            const at::Tensor& value, const at::Tensor& grad) {
    (void)features;
    ctx->save_for_backward({grad});
    return value.clone();
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const at::Tensor grad = ctx->get_saved_variables()[0];
    return {grads[0] * grad, at::Tensor(), at::Tensor()};
  }
};

// Note [Memory update rule], applied to the rows of `memory` that hold labels [begin, begin+rows).
template <typename T>
void momentumUpdate(at::Tensor& memory, int64_t begin, const at::Tensor& features,
                    const at::Tensor& labels, double momentum) {
  const int64_t rows = memory.size(0), dim = memory.size(1);
  T* m = memory.data_ptr<T>();
  const T* f = features.data_ptr<T>();
  const int64_t* y = labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < labels.size(0); ++i) {
    const int64_t row = y[i] - begin;
    if (row < 0 || row >= rows) continue;
    T* dst = m + row * dim;
    const T* src = f + i * dim;
    double norm_sq = 0.0;
    for (int64_t d = 0; d < dim; ++d) {
      dst[d] = static_cast<T>(momentum * dst[d] + (1.0 - momentum) * src[d]);
      norm_sq += static_cast<double>(dst[d]) * dst[d];
    }
    const double scale = 1.0 / std::max(std::sqrt(norm_sq), kNormEps);
    for (int64_t d = 0; d < dim; ++d) dst[d] = static_cast<T>(dst[d] * scale);
  }
}

}  // namespace

std::pair<int64_t, int64_t> ContrastiveMemoryBank::shardRange(int64_t num_identities, int rank,
                                                              int world) {
  const int64_t base = num_identities / world, rem = num_identities % world;
  const int64_t begin = rank * base + std::min<int64_t>(rank, rem);
  return {begin, begin + base + (rank < rem ? 1 : 0)};
}

ContrastiveMemoryBank::ContrastiveMemoryBank(const MemoryBankOptions& opts,
                                             comm::Communicator& comm)
    : opts_(opts), comm_(comm) {
  AGREID_CHECK(opts.num_identities > 0 && opts.dim > 0, "memory bank needs identities and dim");
  AGREID_CHECK(opts.temperature > 0.0, "memory temperature must be positive");
  AGREID_CHECK(opts.dtype == c10::kFloat || opts.dtype == c10::kDouble,
               "memory dtype must be float or double");
  if (opts.layout == MemoryLayout::kSharded) {
    std::tie(begin_, end_) = shardRange(opts.num_identities, comm.rank(), comm.size());
  } else {
    begin_ = 0;
    end_ = opts.num_identities;
  }
  memory_ = torch::zeros({end_ - begin_, opts.dim}, torch::TensorOptions().dtype(opts.dtype));
}

void ContrastiveMemoryBank::setShard(const at::Tensor& rows) {
  AGREID_CHECK(rows.sizes() == memory_.sizes(), "shard must be ", memory_.sizes(), ", got ",
               rows.sizes());
  memory_.copy_(rows);
}

at::Tensor ContrastiveMemoryBank::gatherFull() const {
  if (opts_.layout == MemoryLayout::kReplicated || comm_.size() == 1) return memory_.clone();
  return comm_.allGatherV(memory_);
}

void ContrastiveMemoryBank::loadFull(const at::Tensor& full) {
  if (full.dim() != 2 || full.size(0) != opts_.num_identities || full.size(1) != opts_.dim) {
    throw InputError(detail::concat("memory bank: expected a [", opts_.num_identities, ", ",
                                    opts_.dim, "] tensor, got ", full.sizes()));
  }
  memory_.copy_(full.slice(0, begin_, end_));
}

void ContrastiveMemoryBank::initializeRandom(uint64_t seed) {
  for (int64_t chunk = begin_ / kInitChunkRows; chunk * kInitChunkRows < end_; ++chunk) {
    const int64_t c0 = chunk * kInitChunkRows;
    const int64_t c1 = std::min(c0 + kInitChunkRows, opts_.num_identities);
    at::Generator gen =
        at::make_generator<at::CPUGeneratorImpl>(seed + static_cast<uint64_t>(chunk));
    const at::Tensor rows =
        at::randn({c1 - c0, opts_.dim}, gen, torch::TensorOptions().dtype(opts_.dtype));
    const int64_t lo = std::max(c0, begin_), hi = std::min(c1, end_);
    memory_.slice(0, lo - begin_, hi - begin_).copy_(rows.slice(0, lo - c0, hi - c0));
  }
  memory_.div_(memory_.norm(2, 1, /*keepdim=*/true).clamp_min(kNormEps));
}

MemoryBankOutput ContrastiveMemoryBank::forward(const at::Tensor& features,
                                                const at::Tensor& labels) {
  AGREID_CHECK(features.dim() == 2 && features.size(1) == opts_.dim, "features must be [b, ",
               opts_.dim, "], got ", features.sizes());
  AGREID_CHECK(labels.dim() == 1 && labels.size(0) == features.size(0), "labels must be [b]");
  const int64_t b = features.size(0);
  const at::Tensor f = features.detach().to(opts_.dtype).contiguous();
  const at::Tensor y = labels.to(torch::kLong).contiguous();
  AGREID_CHECK(
      b == 0 || (y.min().item<int64_t>() >= 0 && y.max().item<int64_t>() < opts_.num_identities),
      "memory bank labels must lie in [0, ", opts_.num_identities, ")");
  const int world = comm_.size();
  const double inv_t = 1.0 / opts_.temperature;

  // Global batch: sizes, offsets and the gathered rows (rank order).
  at::Tensor sizes = torch::full({1}, b, torch::kLong);
  if (world > 1) sizes = comm_.allGather(sizes);
  const int64_t offset = (sizes.cumsum(0) - sizes)[comm_.rank()].item<int64_t>();
  const int64_t global_b = sizes.sum().item<int64_t>();
  const at::Tensor all_f = world > 1 ? comm_.allGatherV(f) : f;
  const at::Tensor all_y = world > 1 ? comm_.allGatherV(y) : y;

  at::Tensor row_loss;  // [b] losses of this rank's rows
  at::Tensor grad;      // [b, D] d(sum of row_loss) / d f
  double global_loss = 0.0;
  if (opts_.layout == MemoryLayout::kReplicated) {
    const at::Tensor log_p = torch::log_softmax(f.matmul(memory_.t()) * inv_t, 1);  // [b, N]
    row_loss = -log_p.gather(1, y.unsqueeze(1)).squeeze(1);
    const at::Tensor delta =
        log_p.exp().scatter_add(1, y.unsqueeze(1), -torch::ones({b, 1}, log_p.options()));
    grad = delta.matmul(memory_) * inv_t;
    at::Tensor total = row_loss.sum().reshape({1});
    if (world > 1) comm_.allReduce(total)->wait();
    global_loss = global_b > 0 ? total.item<double>() / static_cast<double>(global_b) : 0.0;
  } else {
    const int64_t rows = end_ - begin_;
    const at::Tensor logits = all_f.matmul(memory_.t()) * inv_t;  // [B, rows]
    at::Tensor row_max =
        rows > 0
            ? std::get<0>(logits.max(1))
            : torch::full({global_b}, -std::numeric_limits<double>::infinity(), logits.options());
    if (world > 1) comm_.allReduce(row_max, {comm::ReduceOp::kMax})->wait();
    const at::Tensor e = (logits - row_max.unsqueeze(1)).exp();
    const at::Tensor owned = all_y.ge(begin_).logical_and(all_y.lt(end_)).to(logits.dtype());
    const at::Tensor local_col = (all_y - begin_).clamp(0, std::max<int64_t>(rows - 1, 0));
    // Row 0: sum exp(logit - max) over this rank's columns; row 1: the target logit if owned.
    at::Tensor sums = torch::zeros({2, global_b}, logits.options());
    sums[0] = e.sum(1);
    if (rows > 0) sums[1] = logits.gather(1, local_col.unsqueeze(1)).squeeze(1) * owned;
    if (world > 1) comm_.allReduce(sums)->wait();
    const at::Tensor all_loss = sums[0].log() + row_max - sums[1];  // [B]
    // This rank's share of every row's gradient: (softmax - onehot) over its columns . M_r / T.
    at::Tensor delta = e / sums[0].unsqueeze(1);
    if (rows > 0) delta = delta.scatter_add(1, local_col.unsqueeze(1), -owned.unsqueeze(1));
    at::Tensor partial = delta.matmul(memory_) * inv_t;  // [B, D]
    if (world == 1) {
      grad = partial;
    } else if (sizes.eq(b).all().item<bool>()) {
      grad = comm_.reduceScatter(partial.contiguous());
    } else {
      comm_.allReduce(partial)->wait();
      grad = partial.slice(0, offset, offset + b);
    }
    row_loss = all_loss.slice(0, offset, offset + b);
    global_loss = global_b > 0 ? all_loss.mean().item<double>() : 0.0;
  }

  MemoryBankOutput out;
  out.global_loss = global_loss;
  const at::Tensor value = b > 0 ? row_loss.mean() : torch::zeros({}, f.options());
  const at::Tensor mean_grad = b > 0 ? grad / static_cast<double>(b) : grad;
  out.loss = features.requires_grad()
                 ? PrecomputedGradLoss::apply(features, value.to(features.dtype()),
                                              mean_grad.to(features.dtype()))
                 : value.to(features.dtype());
  AT_DISPATCH_FLOATING_TYPES(memory_.scalar_type(), "memory_update", [&] {
    momentumUpdate<scalar_t>(memory_, begin_, all_f, all_y, opts_.momentum);
  });
  return out;
}

}  // namespace agreid::trainer
