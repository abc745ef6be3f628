// IdentitySampler and ShardedSequentialSampler: CLIP-ReID RandomIdentitySampler semantics,
// determinism, and rank sharding computed in-process (the mpi test repeats it across processes).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "base/error.h"
#include "data/samplers.h"

namespace agreid::data {
namespace {

// Identity i has counts[i] samples; sample indices are 100*i + j (so identity = index / 100).
struct Toy {
  std::vector<int64_t> indices, identities;
};
Toy makeToy(const std::vector<int>& counts) {
  Toy t;
  for (size_t i = 0; i < counts.size(); ++i) {
    for (int j = 0; j < counts[i]; ++j) {
      t.indices.push_back(100 * static_cast<int64_t>(i) + j);
      t.identities.push_back(static_cast<int64_t>(i) + 1000);
    }
  }
  return t;
}

SamplerOptions pk(int64_t p, int64_t k) {
  SamplerOptions o;
  o.identities_per_batch = p;
  o.instances_per_identity = k;
  return o;
}

TEST(IdentitySamplerTest, BatchesAreWholeIdentitiesOfKInstances) {
  const Toy toy = makeToy({9, 4, 4, 2, 12, 5, 7, 8, 1, 6});
  IdentitySampler sampler(toy.indices, toy.identities, pk(4, 4), 123);
  const auto batches = sampler.globalBatches(0);
  ASSERT_FALSE(batches.empty());
  std::map<int64_t, int> used;  // sample -> times used
  for (const auto& b : batches) {
    ASSERT_EQ(b.size(), 16u);
    std::set<int64_t> ids;
    for (int slot = 0; slot < 4; ++slot) {
      const int64_t id = b[slot * 4] / 100;
      for (int k = 0; k < 4; ++k) EXPECT_EQ(b[slot * 4 + k] / 100, id);
      ids.insert(id);
    }
    EXPECT_EQ(ids.size(), 4u) << "an identity appears twice in one batch";
    for (int64_t s : b) ++used[s];
  }
  // Identities with >= K samples never repeat a sample within an epoch (chunks partition them).
  for (const auto& [s, n] : used) {
    if (s / 100 != 3 && s / 100 != 8) EXPECT_EQ(n, 1) << "sample " << s;
  }
}

TEST(IdentitySamplerTest, ChunkCountsFollowClipReid) {
  // Counts: floor(n/K) chunks, or 1 chunk for n < K. With P = number of identities, batches end
  // when the first identity runs out, and every batch holds all identities.
  const Toy toy = makeToy({8, 12, 3});
  IdentitySampler sampler(toy.indices, toy.identities, pk(3, 4), 5);
  EXPECT_EQ(sampler.globalBatches(0).size(), 1u);  // identity 2 has one chunk
  IdentitySampler sampler2(toy.indices, toy.identities, pk(2, 4), 5);
  // Chunks 2 + 3 + 1 = 6, each batch uses 2; batching stops when < 2 identities remain.
  const auto b2 = sampler2.globalBatches(0);
  EXPECT_GE(b2.size(), 2u);
  EXPECT_LE(b2.size(), 3u);
}

TEST(IdentitySamplerTest, SmallIdentitiesAreDrawnWithReplacement) {
  const Toy toy = makeToy({2, 5, 6});
  IdentitySampler sampler(toy.indices, toy.identities, pk(3, 4), 9);
  const auto batches = sampler.globalBatches(0);
  ASSERT_EQ(batches.size(), 1u);
  int from_small = 0;
  for (int64_t s : batches[0]) {
    if (s / 100 == 0) {
      EXPECT_TRUE(s == 0 || s == 1);
      ++from_small;
    }
  }
  EXPECT_EQ(from_small, 4);
}

TEST(IdentitySamplerTest, DeterministicPerSeedAndEpoch) {
  const Toy toy = makeToy({9, 8, 7, 6, 5, 4, 9, 8, 7, 6, 5, 4});
  IdentitySampler a(toy.indices, toy.identities, pk(4, 2), 77);
  IdentitySampler b(toy.indices, toy.identities, pk(4, 2), 77);
  IdentitySampler c(toy.indices, toy.identities, pk(4, 2), 78);
  EXPECT_EQ(a.globalBatches(3), b.globalBatches(3));
  EXPECT_NE(a.globalBatches(3), a.globalBatches(4));
  EXPECT_NE(a.globalBatches(3), c.globalBatches(3));
}

TEST(IdentitySamplerTest, RanksTakeWholeIdentitiesOfTheSameGlobalBatch) {
  const Toy toy = makeToy({9, 8, 7, 6, 5, 4, 9, 8, 7, 6, 5, 4, 3, 10, 11, 12});
  const auto options = pk(8, 4);
  IdentitySampler single(toy.indices, toy.identities, options, 42);
  const auto global = single.globalBatches(2);
  for (int64_t world : {1, 2, 4, 8}) {
    std::vector<std::vector<std::vector<int64_t>>> per_rank;
    for (int64_t r = 0; r < world; ++r) {
      IdentitySampler s(toy.indices, toy.identities, options, 42, ShardOptions{r, world});
      per_rank.push_back(s.epochBatches(2));
      EXPECT_EQ(per_rank.back().size(), global.size());
      EXPECT_EQ(s.localBatchSize(), 32 / world);
    }
    for (size_t b = 0; b < global.size(); ++b) {
      std::vector<int64_t> joined;
      for (const auto& rank_batches : per_rank) {
        ASSERT_EQ(rank_batches[b].size(), static_cast<size_t>(32 / world));
        joined.insert(joined.end(), rank_batches[b].begin(), rank_batches[b].end());
      }
      EXPECT_EQ(joined, global[b]) << "world " << world << " batch " << b;
    }
  }
}

TEST(IdentitySamplerTest, RejectsWorldSizeNotDividingP) {
  const Toy toy = makeToy({4, 4, 4, 4});
  try {
    IdentitySampler s(toy.indices, toy.identities, pk(4, 2), 1, ShardOptions{0, 3});
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("data.identities_per_batch"), std::string::npos);
  }
}

TEST(IdentitySamplerTest, RejectsFewerIdentitiesThanP) {
  const Toy toy = makeToy({4, 4});
  EXPECT_THROW(IdentitySampler(toy.indices, toy.identities, pk(3, 2), 1), InputError);
}

TEST(ShardedSequentialSamplerTest, CoversEverySampleOnceInOrder) {
  std::vector<int64_t> indices;
  for (int64_t i = 0; i < 103; ++i) indices.push_back(i * 3 + 1);
  for (int64_t world : {1, 2, 3, 4, 7, 200}) {
    std::vector<int64_t> joined;
    for (int64_t r = 0; r < world; ++r) {
      ShardedSequentialSampler s(indices, 10, ShardOptions{r, world});
      for (const auto& b : s.batches()) {
        EXPECT_LE(b.size(), 10u);
        EXPECT_FALSE(b.empty());
        joined.insert(joined.end(), b.begin(), b.end());
      }
    }
    EXPECT_EQ(joined, indices) << "world " << world;
  }
}

}  // namespace
}  // namespace agreid::data
