#include "data/samplers.h"

#include <algorithm>
#include <map>

#include "base/check.h"
#include "base/error.h"
#include "data/counter_rng.h"

namespace agreid::data {
namespace {

constexpr uint64_t kSamplerStream = 0x5A4D504C45520001ULL;  // "SAMPLER" stream tag

}  // namespace

IdentitySampler::IdentitySampler(std::vector<int64_t> indices, std::vector<int64_t> identities,
                                 SamplerOptions options, uint64_t seed, ShardOptions shard)
    : options_(options), seed_(seed), shard_(shard) {
  AGREID_CHECK(indices.size() == identities.size(), indices.size(), " vs ", identities.size());
  AGREID_CHECK(shard.world_size >= 1 && shard.rank >= 0 && shard.rank < shard.world_size);
  const int64_t p = options.identities_per_batch;
  const int64_t k = options.instances_per_identity;
  if (p < 1 || k < 1) {
    throw InputError(detail::concat("data.identities_per_batch (", p,
                                    ") and data.instances_per_identity (", k,
                                    ") must be at least 1"));
  }
  if (p % shard.world_size != 0) {
    throw InputError(detail::concat(
        "data.identities_per_batch (P=", p, ") must be divisible by the number of ranks (",
        shard.world_size, ") so that each rank takes whole identities"));
  }
  std::map<int64_t, std::vector<int64_t>> by_identity;
  for (size_t i = 0; i < indices.size(); ++i) by_identity[identities[i]].push_back(indices[i]);
  if (static_cast<int64_t>(by_identity.size()) < p) {
    throw InputError(detail::concat("the training split has ", by_identity.size(),
                                    " identities, fewer than data.identities_per_batch (P=", p,
                                    ")"));
  }
  identity_samples_.reserve(by_identity.size());
  for (auto& [id, samples] : by_identity) identity_samples_.push_back(std::move(samples));
}

std::vector<std::vector<int64_t>> IdentitySampler::globalBatches(int64_t epoch) const {
  const int64_t p = options_.identities_per_batch;
  const int64_t k = options_.instances_per_identity;
  CounterRng rng(seed_ ^ kSamplerStream, static_cast<uint64_t>(epoch), 0);

  // Chunks of K per identity, in the order they will be consumed.
  const size_t n_ids = identity_samples_.size();
  std::vector<std::vector<std::vector<int64_t>>> chunks(n_ids);
  for (size_t id = 0; id < n_ids; ++id) {
    std::vector<int64_t> samples = identity_samples_[id];
    if (static_cast<int64_t>(samples.size()) < k) {
      std::vector<int64_t> drawn(k);
      for (auto& s : drawn) s = samples[rng.below(samples.size())];
      samples = std::move(drawn);
    }
    rng.shuffle(samples.begin(), samples.end());
    for (size_t start = 0; start + k <= samples.size(); start += k) {
      chunks[id].emplace_back(samples.begin() + start, samples.begin() + start + k);
    }
  }

  std::vector<int64_t> available(n_ids);
  for (size_t id = 0; id < n_ids; ++id) available[id] = static_cast<int64_t>(id);
  std::vector<size_t> next_chunk(n_ids, 0);
  std::vector<std::vector<int64_t>> batches;
  while (static_cast<int64_t>(available.size()) >= p) {
    // Choose P distinct available identities in random order (partial Fisher-Yates).
    for (int64_t i = 0; i < p; ++i) {
      const size_t j = i + rng.below(available.size() - i);
      std::swap(available[i], available[j]);
    }
    std::vector<int64_t> batch;
    batch.reserve(p * k);
    std::vector<int64_t> selected(available.begin(), available.begin() + p);
    for (int64_t id : selected) {
      const auto& chunk = chunks[id][next_chunk[id]++];
      batch.insert(batch.end(), chunk.begin(), chunk.end());
    }
    // Identities without chunks leave the pool; keep the pool order otherwise deterministic.
    available.erase(std::remove_if(available.begin(), available.end(),
                                   [&](int64_t id) { return next_chunk[id] >= chunks[id].size(); }),
                    available.end());
    batches.push_back(std::move(batch));
  }
  return batches;
}

std::vector<std::vector<int64_t>> IdentitySampler::epochBatches(int64_t epoch) const {
  const int64_t p = options_.identities_per_batch;
  const int64_t k = options_.instances_per_identity;
  const int64_t first = shard_.rank * p / shard_.world_size * k;
  const int64_t last = (shard_.rank + 1) * p / shard_.world_size * k;
  auto batches = globalBatches(epoch);
  for (auto& batch : batches)
    batch = std::vector<int64_t>(batch.begin() + first, batch.begin() + last);
  return batches;
}

ShardedSequentialSampler::ShardedSequentialSampler(std::vector<int64_t> indices, int64_t batch_size,
                                                   ShardOptions shard)
    : indices_(std::move(indices)), batch_size_(batch_size) {
  AGREID_CHECK(batch_size >= 1, "batch size ", batch_size);
  AGREID_CHECK(shard.world_size >= 1 && shard.rank >= 0 && shard.rank < shard.world_size);
  const auto n = static_cast<int64_t>(indices_.size());
  begin_ = shard.rank * n / shard.world_size;
  end_ = (shard.rank + 1) * n / shard.world_size;
}

std::vector<std::vector<int64_t>> ShardedSequentialSampler::batches() const {
  std::vector<std::vector<int64_t>> out;
  for (int64_t start = begin_; start < end_; start += batch_size_) {
    const int64_t stop = std::min(end_, start + batch_size_);
    out.emplace_back(indices_.begin() + start, indices_.begin() + stop);
  }
  return out;
}

}  // namespace agreid::data
