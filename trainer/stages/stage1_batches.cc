#include "trainer/stages/stage1_batches.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <string>

#include "base/error.h"
#include "comm/all_gather_autograd.h"
#include "comm/communicator.h"

namespace agreid::trainer {

Stage1Batches::Stage1Batches(int64_t total, int64_t batch_size, int world, uint64_t seed)
    : total_(total), batch_size_(batch_size), world_(world), seed_(seed) {
  if (total < 1 || batch_size < 1) {
    throw InputError("stage 1 needs training images and stage1.batch_size > 0");
  }
  if (batch_size < world) {
    throw InputError("stage1.batch_size = " + std::to_string(batch_size) +
                     " is smaller than the number of ranks (" + std::to_string(world) + ")");
  }
}

std::pair<int64_t, int64_t> Stage1Batches::positions(int rank, int64_t step) const {
  const int64_t s = step * batch_size_, t = std::min(total_, s + batch_size_);
  const int64_t n = shardSize(rank);
  // s*n and t*n stay below 2^63 for any N below ~3e9.
  return {s * n / total_, t * n / total_};
}

std::vector<int64_t> Stage1Batches::counts(int64_t step) const {
  std::vector<int64_t> out(static_cast<size_t>(world_));
  for (int r = 0; r < world_; ++r) {
    const auto [begin, end] = positions(r, step);
    out[static_cast<size_t>(r)] = end - begin;
  }
  return out;
}

at::Tensor Stage1Batches::epochOrder(int rank, int64_t epoch) const {
  // Rank 0's seed is the one-process loop's, so that W = 1 draws its permutations unchanged.
  const uint64_t seed = seed_ * 1000003ULL + static_cast<uint64_t>(epoch) +
                        static_cast<uint64_t>(rank) * 0x9E3779B97F4A7C15ULL;
  auto gen = at::detail::createCPUGenerator(seed);
  return at::randperm(shardSize(rank), gen, at::TensorOptions().dtype(at::kLong));
}

at::Tensor gatherBatchRows(comm::Communicator& comm, const at::Tensor& local,
                           const std::vector<int64_t>& counts, bool grad) {
  const int64_t most = *std::max_element(counts.begin(), counts.end());
  std::vector<int64_t> pad_shape = local.sizes().vec();
  pad_shape[0] = most - local.size(0);
  const at::Tensor padded = at::cat({local, at::zeros(pad_shape, local.options())});
  std::vector<at::Tensor> keep;
  for (size_t r = 0; r < counts.size(); ++r) {
    const int64_t first = static_cast<int64_t>(r) * most;
    keep.push_back(at::arange(first, first + counts[r], local.options().dtype(at::kLong)));
  }
  const at::Tensor all = grad ? comm::allGatherWithGrad(comm, padded) : comm.allGather(padded);
  return all.index_select(0, at::cat(keep));
}

}  // namespace agreid::trainer
