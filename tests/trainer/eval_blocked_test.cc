// The tiled, threaded scoring of the plain protocol (trainer/eval/blocked_scoring.h): per-query
// results equal a straightforward full sort of the exact distances, for tile sizes that do and do
// not divide the shapes, 1..4 threads, tied distances, near-duplicate distances (float32 cannot
// rank them) and queries without a valid match; and evaluate() does not depend on threads.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <numeric>

#include "tests/trainer/eval_test_util.h"
#include "trainer/eval/blocked_scoring.h"
#include "trainer/eval/metrics.h"

namespace agreid::trainer {
namespace {

using testing::makeSyntheticEval;
using testing::SyntheticEvalOptions;

// at::set_num_threads for one scope.
class ThreadCount {
 public:
  explicit ThreadCount(int n) : saved_(at::get_num_threads()) { at::set_num_threads(n); }
  ~ThreadCount() { at::set_num_threads(saved_); }

 private:
  int saved_;
};

// The protocol written out: stable sort by distance, drop junk, walk the list.
QueryScore sortedScore(const std::vector<double>& d, const FeatureSet& gallery, int64_t pid,
                       int64_t camid) {
  std::vector<int64_t> order(d.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return d[a] < d[b]; });
  QueryScore s;
  int64_t rank = 0, found = 0, last = 0;
  double precision_sum = 0.0;
  for (int64_t g : order) {
    if (gallery.pid[g] == pid && gallery.camid[g] == camid) continue;  // junk
    ++rank;
    if (gallery.pid[g] != pid) continue;
    ++found;
    if (found == 1) s.first_rank = rank;
    precision_sum += static_cast<double>(found) / static_cast<double>(rank);
    last = rank;
  }
  if (found == 0) return s;
  s.valid = true;
  s.ap = precision_sum / static_cast<double>(found);
  s.inp = static_cast<double>(found) / static_cast<double>(last);
  return s;
}

SyntheticEvalOptions dataOptions(int kind) {
  SyntheticEvalOptions o;
  o.seed = 30 + kind;
  o.identities = 23;  // 23 x 5 + distractors + 2: no tile size below divides it
  o.distractors = 17;
  o.quantised = kind == 1;        // many exactly tied distances
  o.near_duplicates = kind == 2;  // distances closer than float32 can tell apart
  if (o.near_duplicates) o.noise = 0.3;
  return o;
}

class BlockedScoring : public ::testing::TestWithParam<int> {};

TEST_P(BlockedScoring, EqualsFullSortOfExactDistances) {
  const auto data = makeSyntheticEval(dataOptions(GetParam()));
  const FeatureSet &query = data.query, &gallery = data.gallery;
  const GalleryIndex index(gallery.pid, gallery.camid);
  const int64_t nq = query.size(), ng = gallery.size();
  ASSERT_NE(ng % 16, 0);  // not a multiple of the tiles below
  // A share that starts inside the query set, as on rank 1 of 2.
  const int64_t begin = 3, end = nq;
  const BlockedScorer reference_scorer(query, begin, end, gallery, index, EvalTiling{});
  std::vector<QueryScore> expected;
  int64_t invalid = 0;
  for (int64_t q = begin; q < end; ++q) {
    std::vector<double> row(ng);
    for (int64_t g = 0; g < ng; ++g) row[g] = reference_scorer.exact(q, g);
    expected.push_back(sortedScore(row, gallery, query.pid[q], query.camid[q]));
    invalid += expected.back().valid ? 0 : 1;
  }
  EXPECT_EQ(invalid, 2);  // the query whose pid is absent and the one with junk matches only

  const ThreadCount four_threads(4);
  for (const EvalTiling tiling : {EvalTiling{1, 1, 1}, EvalTiling{3, 5, 2}, EvalTiling{7, 16, 3},
                                  EvalTiling{256, 2048, 4}, EvalTiling{5, 1000, 0}}) {
    SCOPED_TRACE(::testing::Message() << "tile " << tiling.query_rows << " x "
                                      << tiling.gallery_cols << ", threads " << tiling.threads);
    const BlockedScorer scorer(query, begin, end, gallery, index, tiling);
    // Progress: one call per block, one at a time, counting up to the whole share.
    std::vector<int64_t> reports;
    const std::vector<QueryScore> got =
        scorer.scoreAll([&](int64_t done) { reports.push_back(done); });
    const int64_t n = end - begin;
    ASSERT_FALSE(reports.empty());
    EXPECT_EQ(std::adjacent_find(reports.begin(), reports.end(), std::greater_equal<int64_t>()),
              reports.end());  // strictly increasing
    EXPECT_EQ(reports.back(), n);
    // One report per block, and a block holds at most query_rows queries.
    EXPECT_GE(static_cast<int64_t>(reports.size()),
              (n + tiling.query_rows - 1) / tiling.query_rows);
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].valid, expected[i].valid) << "query " << begin + i;
      EXPECT_EQ(got[i].first_rank, expected[i].first_rank) << "query " << begin + i;
      EXPECT_EQ(got[i].ap, expected[i].ap) << "query " << begin + i;
      EXPECT_EQ(got[i].inp, expected[i].inp) << "query " << begin + i;
    }
  }
}

TEST_P(BlockedScoring, TopListEqualsFullSort) {
  const auto data = makeSyntheticEval(dataOptions(GetParam()));
  const FeatureSet &query = data.query, &gallery = data.gallery;
  const GalleryIndex index(gallery.pid, gallery.camid);
  const BlockedScorer scorer(query, 0, query.size(), gallery, index, EvalTiling{});
  for (int64_t q : {int64_t{0}, int64_t{5}, query.size() - 1}) {
    std::vector<double> row(gallery.size());
    for (int64_t g = 0; g < gallery.size(); ++g) row[g] = scorer.exact(q, g);
    const RankedList want = index.top(row.data(), query.pid[q], query.camid[q], 12);
    const auto got = scorer.top(q, 12);
    ASSERT_EQ(got.size(), want.gallery.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].second, want.gallery[i]) << "query " << q << " place " << i;
      EXPECT_EQ(got[i].first, want.distance[i]);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Data, BlockedScoring, ::testing::Values(0, 1, 2), [](const auto& info) {
  return info.param == 0 ? "Gaussian" : info.param == 1 ? "QuantisedTies" : "NearDuplicates";
});

TEST(BlockedScoring, ExactDistanceOfIdenticalRowsIsZero) {
  // Identical vectors are at exactly equal distances (here 0).
  FeatureSet set = makeSyntheticEval({}).gallery;
  set.features[1].copy_(set.features[0]);
  const GalleryIndex index(set.pid, set.camid);
  const BlockedScorer scorer(set, 0, set.size(), set, index, EvalTiling{});
  EXPECT_EQ(scorer.exact(0, 1), 0.0);
  EXPECT_EQ(scorer.exact(1, 0), 0.0);
  EXPECT_EQ(scorer.exact(5, 0), scorer.exact(5, 1));
  EXPECT_GT(scorer.exact(0, 3), 0.0);
}

TEST(Evaluate, OneThreadEqualsManyThreads) {
  SyntheticEvalOptions so;
  so.identities = 40;
  so.near_duplicates = true;
  so.noise = 0.3;
  const auto data = makeSyntheticEval(so);
  EvalOptions options;
  EvaluateRequest request;
  request.record = {0, 7, 30};
  EvalResults one;
  {
    const ThreadCount threads(1);
    one = evaluate(data.query, data.gallery, options, nullptr, request);
  }
  for (int n : {2, 3, 4}) {
    const ThreadCount threads(n);
    const EvalResults many =
        evaluate(data.query, data.gallery, options, nullptr, request, EvalTiling{4, 9, 0});
    testing::expectMetricsNear(many.all, one.all, 0.0);
    testing::expectMetricsNear(*many.occluded, *one.occluded, 0.0);
    testing::expectMetricsNear(*many.holistic, *one.holistic, 0.0);
    ASSERT_EQ(many.ranked.size(), one.ranked.size());
    for (size_t i = 0; i < many.ranked.size(); ++i) {
      EXPECT_EQ(many.ranked[i].gallery, one.ranked[i].gallery);
      EXPECT_EQ(many.ranked[i].distance, one.ranked[i].distance);
    }
  }
}

}  // namespace
}  // namespace agreid::trainer
