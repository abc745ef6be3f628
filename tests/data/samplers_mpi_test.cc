// Samplers across real processes: each rank computes its own batches; gathered over MPI in rank
// order they equal the single-rank global batches (identity sampler) or the dataset order
// (sharded sequential sampler).
#include <gtest/gtest.h>
#include <mpi.h>

#include "data/samplers.h"

namespace agreid::data {
namespace {

struct World {
  int rank = 0, size = 1;
  World() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
  }
};

// Gathers variable-length int64 vectors from all ranks, in rank order.
std::vector<std::vector<int64_t>> allGather(const std::vector<int64_t>& mine, const World& w) {
  const int n = static_cast<int>(mine.size());
  std::vector<int> counts(w.size), displs(w.size, 0);
  MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
  int total = 0;
  for (int r = 0; r < w.size; ++r) {
    displs[r] = total;
    total += counts[r];
  }
  std::vector<int64_t> flat(total);
  MPI_Allgatherv(mine.data(), n, MPI_INT64_T, flat.data(), counts.data(), displs.data(),
                 MPI_INT64_T, MPI_COMM_WORLD);
  std::vector<std::vector<int64_t>> out(w.size);
  for (int r = 0; r < w.size; ++r)
    out[r].assign(flat.begin() + displs[r], flat.begin() + displs[r] + counts[r]);
  return out;
}

TEST(SamplersMpiTest, IdentitySamplerUnionOfRanksIsTheGlobalBatch) {
  World w;
  std::vector<int64_t> indices, identities;
  for (int64_t id = 0; id < 40; ++id) {
    for (int64_t j = 0; j < 3 + id % 7; ++j) {
      indices.push_back(static_cast<int64_t>(indices.size()));
      identities.push_back(id * 5);
    }
  }
  SamplerOptions options;
  options.identities_per_batch = 8;
  options.instances_per_identity = 4;
  IdentitySampler single(indices, identities, options, 1234);
  IdentitySampler mine(indices, identities, options, 1234, ShardOptions{w.rank, w.size});
  for (int64_t epoch : {0, 1, 5}) {
    const auto global = single.globalBatches(epoch);
    const auto local = mine.epochBatches(epoch);
    const auto counts = allGather({static_cast<int64_t>(local.size())}, w);
    for (const auto& c : counts) ASSERT_EQ(c[0], static_cast<int64_t>(global.size()));
    for (size_t b = 0; b < global.size(); ++b) {
      const auto parts = allGather(local[b], w);
      std::vector<int64_t> joined;
      for (const auto& p : parts) joined.insert(joined.end(), p.begin(), p.end());
      ASSERT_EQ(joined, global[b]) << "epoch " << epoch << " batch " << b;
    }
  }
}

TEST(SamplersMpiTest, ShardedSequentialCoversEverySampleOnce) {
  World w;
  std::vector<int64_t> indices;
  for (int64_t i = 0; i < 101; ++i) indices.push_back(1000 + i);
  ShardedSequentialSampler sampler(indices, 8, ShardOptions{w.rank, w.size});
  std::vector<int64_t> mine;
  for (const auto& b : sampler.batches()) mine.insert(mine.end(), b.begin(), b.end());
  const auto parts = allGather(mine, w);
  std::vector<int64_t> joined;
  for (const auto& p : parts) joined.insert(joined.end(), p.begin(), p.end());
  EXPECT_EQ(joined, indices);
}

}  // namespace
}  // namespace agreid::data
