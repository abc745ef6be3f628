#include "trainer/stages/pretrain_batches.h"

#include <map>
#include <random>
#include <unordered_map>

#include "base/check.h"

namespace agreid::trainer {
namespace {

// A Fisher-Yates shuffle on mt19937_64 draws: the same order with every standard library (the
// ranks of a job must agree; std::shuffle's is implementation-defined).
template <typename T>
void seededShuffle(std::vector<T>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng() % i]);
}

}  // namespace

PretrainPeople groupPretrainPeople(const std::vector<int64_t>& train,
                                   const std::vector<int32_t>& pid,
                                   const std::vector<int32_t>& attributes, int64_t stride,
                                   const std::vector<int>& columns) {
  PretrainPeople out;
  std::unordered_map<int32_t, size_t> person_of;
  std::map<std::vector<int32_t>, int64_t> group_of;
  for (const int64_t s : train) {
    AGREID_CHECK(s >= 0 && static_cast<size_t>(s) < pid.size(), "sample ", s, " out of range");
    const auto [it, added] = person_of.emplace(pid[s], out.samples.size());
    if (added) {
      std::vector<int32_t> key;
      for (const int c : columns) {
        const size_t at = static_cast<size_t>(s * stride + c);
        AGREID_CHECK(c >= 0 && c < stride && at < attributes.size(), "attribute ", c,
                     " out of range");
        key.push_back(attributes[at]);
      }
      out.group.push_back(
          group_of.emplace(key, static_cast<int64_t>(group_of.size())).first->second);
      out.samples.emplace_back();
    }
    out.samples[it->second].push_back(s);
  }
  return out;
}

std::vector<int64_t> hardNegativeEpoch(const PretrainPeople& people, const HardNegativeBatching& o,
                                       int64_t epoch) {
  AGREID_CHECK(o.batch_size > 0 && o.group_people > 0, "batch and chunk sizes must be positive");
  std::mt19937_64 rng(o.seed * 7919ULL + static_cast<uint64_t>(epoch));
  // People in a seeded order, then gathered by group (stable: each group keeps that order).
  std::vector<int64_t> order(people.samples.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  seededShuffle(order, rng);
  std::map<int64_t, std::vector<int64_t>> by_group;
  for (const int64_t p : order) by_group[people.group[p]].push_back(p);
  // Chunks of group_people people of one group (a group's last chunk may be smaller), shuffled.
  std::vector<std::vector<int64_t>> chunks;
  for (const auto& [group, members] : by_group) {
    for (size_t at = 0; at < members.size(); at += static_cast<size_t>(o.group_people)) {
      const size_t end = std::min(members.size(), at + static_cast<size_t>(o.group_people));
      chunks.emplace_back(members.begin() + static_cast<std::ptrdiff_t>(at),
                          members.begin() + static_cast<std::ptrdiff_t>(end));
    }
  }
  seededShuffle(chunks, rng);
  const size_t wanted =
      people.samples.size() / static_cast<size_t>(o.batch_size) * static_cast<size_t>(o.batch_size);
  std::vector<int64_t> out;
  out.reserve(wanted);
  for (const auto& chunk : chunks) {
    for (const int64_t p : chunk) {
      if (out.size() == wanted) return out;
      const auto& samples = people.samples[p];
      out.push_back(samples[rng() % samples.size()]);
    }
  }
  return out;
}

}  // namespace agreid::trainer
