// Evaluation metrics: hand-computed cases, agreement with the NumPy reference
// (bench/eval_reference.py) on random data with ties, distractors and queries without a match,
// block-size invariance, and W ranks (ThreadCommunicator) == 1 rank.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "comm/thread_communicator.h"
#include "tests/support/test_support.h"
#include "tests/trainer/eval_test_util.h"
#include "trainer/eval/features_file.h"
#include "trainer/eval/metrics.h"

namespace agreid::trainer {
namespace {

using testing::expectMatchesReference;
using testing::expectMetricsNear;
using testing::makeSyntheticEval;
using testing::SyntheticEvalOptions;

TEST(EvalScore, HandComputedRankingWithJunkAndTies) {
  // Query pid 5, camid 0. Gallery (row: pid/cam, distance):
  //   0: 5/0 0.1 junk   1: 7/1 0.2   2: 5/1 0.3 (tie with 3, lower index first)   3: 8/2 0.3
  //   4: 5/2 0.9        5: 9/0 0.5
  // Ranking after junk removal: 1(neg) 2(pos) 3(neg) 5(neg) 4(pos) -> positives at ranks 2 and 5.
  const std::vector<int64_t> pid = {5, 7, 5, 8, 5, 9}, cam = {0, 1, 1, 2, 2, 0};
  const std::vector<double> d = {0.1, 0.2, 0.3, 0.3, 0.9, 0.5};
  const GalleryIndex index(pid, cam);
  const QueryScore s = index.score(d.data(), 5, 0);
  ASSERT_TRUE(s.valid);
  EXPECT_EQ(s.first_rank, 2);
  EXPECT_DOUBLE_EQ(s.ap, (1.0 / 2 + 2.0 / 5) / 2);
  EXPECT_DOUBLE_EQ(s.inp, 2.0 / 5);
  // The tie broken the other way: a negative at row 1 with the same distance as the positive at
  // row 2 ranks first; with the positive at the lower row it ranks first.
  const std::vector<int64_t> pid2 = {5, 7}, cam2 = {1, 1};
  const std::vector<double> d2 = {0.3, 0.3};
  EXPECT_EQ(GalleryIndex(pid2, cam2).score(d2.data(), 5, 0).first_rank, 1);
  const std::vector<int64_t> pid3 = {7, 5};
  EXPECT_EQ(GalleryIndex(pid3, cam2).score(d2.data(), 5, 0).first_rank, 2);
  // No match outside the query's camera: not valid.
  EXPECT_FALSE(index.score(d.data(), 9, 0).valid);
  EXPECT_FALSE(index.score(d.data(), 42, 0).valid);

  const RankedList top = index.top(d.data(), 5, 0, 3);
  EXPECT_EQ(top.gallery, (std::vector<int64_t>{1, 2, 3}));
}

TEST(EvalShare, ContiguousSharesCoverEverything) {
  for (int world : {1, 2, 3, 7}) {
    int64_t next = 0;
    for (int r = 0; r < world; ++r) {
      const auto [b, e] = shareOf(10, r, world);
      EXPECT_EQ(b, next);
      next = e;
    }
    EXPECT_EQ(next, 10);
  }
}

EvalOptions options(int64_t block, int64_t max_rank = 50) {
  EvalOptions o;
  o.block_size = block;
  o.max_rank = max_rank;
  return o;
}

enum class Kind { kGaussian, kQuantised, kNearDuplicates };

class EvalReference : public ::testing::TestWithParam<Kind> {};

TEST_P(EvalReference, AgreesWithNumpy) {
  if (!testing::haveNumpyH5py()) GTEST_SKIP() << "/usr/bin/python3 lacks numpy or h5py";
  SyntheticEvalOptions so;
  so.quantised = GetParam() == Kind::kQuantised;
  so.near_duplicates = GetParam() == Kind::kNearDuplicates;
  so.seed = 11 + static_cast<int>(GetParam());
  const auto data = makeSyntheticEval(so);
  testing::TempDir tmp;
  writeFeaturesFile(tmp.file("q.h5"), data.query);
  writeFeaturesFile(tmp.file("g.h5"), data.gallery);
  const auto ref = testing::runEvalReference(tmp.file("q.h5"), tmp.file("g.h5"), "--max-rank 50");
  const EvalResults r = evaluate(data.query, data.gallery, options(7), nullptr);
  expectMatchesReference(r.all, ref, "all", 1e-12);
  ASSERT_TRUE(r.holistic && r.occluded);
  expectMatchesReference(*r.holistic, ref, "holistic", 1e-12);
  expectMatchesReference(*r.occluded, ref, "occluded", 1e-12);
  EXPECT_EQ(r.all.num_query, data.query.size());
  EXPECT_EQ(r.all.num_valid_query, data.query.size() - 2);  // the two junk queries
  EXPECT_GT(r.all.map, 0.0);
  EXPECT_LT(r.all.map, 1.0);
}

INSTANTIATE_TEST_SUITE_P(Features, EvalReference,
                         ::testing::Values(Kind::kGaussian, Kind::kQuantised,
                                           Kind::kNearDuplicates),
                         [](const auto& info) {
                           return info.param == Kind::kGaussian    ? "Gaussian"
                                  : info.param == Kind::kQuantised ? "Quantised"
                                                                   : "NearDuplicates";
                         });

TEST(Evaluate, Float32BlocksEqualFloat64Scores) {
  // The float32 path with exact recomputation equals scoring exact float64 rows.
  SyntheticEvalOptions so;
  so.near_duplicates = true;
  so.noise = 0.3;
  const auto data = makeSyntheticEval(so);
  const at::Tensor q = normalizeRows(data.query.features), g = normalizeRows(data.gallery.features);
  const at::Tensor d = squaredDistances(q, g, g.pow(2).sum(1));
  const GalleryIndex index(data.gallery.pid, data.gallery.camid);
  double ap_sum = 0.0;
  int64_t valid = 0;
  for (int64_t i = 0; i < d.size(0); ++i) {
    const QueryScore s =
        index.score(d[i].data_ptr<double>(), data.query.pid[i], data.query.camid[i]);
    if (s.valid) ++valid, ap_sum += s.ap;
  }
  const EvalResults r = evaluate(data.query, data.gallery, options(9), nullptr);
  EXPECT_EQ(r.all.num_valid_query, valid);
  EXPECT_NEAR(r.all.map, ap_sum / valid, 1e-15);
}

TEST(Evaluate, QuantisedFeaturesReallyTie) {
  SyntheticEvalOptions so;
  so.quantised = true;
  const auto data = makeSyntheticEval(so);
  const at::Tensor q = normalizeRows(data.query.features), g = normalizeRows(data.gallery.features);
  const at::Tensor d = squaredDistances(q, g, g.pow(2).sum(1));
  // Each row has far fewer distinct distances than gallery items.
  const auto distinct = std::get<0>(at::_unique(d[0])).numel();
  EXPECT_LT(distinct, g.size(0) / 4);
}

TEST(Evaluate, BlockSizeDoesNotChangeResults) {
  const auto data = makeSyntheticEval({});
  const EvalResults whole = evaluate(data.query, data.gallery, options(100000), nullptr);
  for (int64_t block : {1, 7}) {
    const EvalResults r = evaluate(data.query, data.gallery, options(block), nullptr);
    expectMetricsNear(r.all, whole.all, 0.0);
    expectMetricsNear(*r.occluded, *whole.occluded, 0.0);
  }
}

TEST(Evaluate, ShortCmcWhenGalleryIsSmall) {
  SyntheticEvalOptions so;
  so.identities = 3;
  so.distractors = 0;
  const auto data = makeSyntheticEval(so);
  const EvalResults r = evaluate(data.query, data.gallery, options(4, 50), nullptr);
  ASSERT_EQ(r.all.cmc.size(), 50u);
  EXPECT_DOUBLE_EQ(r.all.cmc.back(), 1.0);
  EXPECT_TRUE(std::isnan(r.all.rank(51)));
}

TEST(Evaluate, RanksAsThreadsEqualOneRank) {
  const auto data = makeSyntheticEval({});
  EvaluateRequest request;
  request.record = {0, 5, 17, 41};
  const EvalResults single = evaluate(data.query, data.gallery, options(5), nullptr, request);
  ASSERT_EQ(single.ranked.size(), 4u);
  for (int world : {1, 2, 3, 4}) {
    std::vector<EvalResults> per_rank(world);
    comm::runRanks(world, [&](comm::Communicator& c) {
      per_rank[c.rank()] = evaluate(data.query, data.gallery, options(5), &c, request);
    });
    for (const EvalResults& r : per_rank) {
      expectMetricsNear(r.all, single.all, 0.0);
      expectMetricsNear(*r.holistic, *single.holistic, 0.0);
      ASSERT_EQ(r.ranked.size(), single.ranked.size());
      for (size_t i = 0; i < r.ranked.size(); ++i) {
        EXPECT_EQ(r.ranked[i].query, single.ranked[i].query);
        EXPECT_EQ(r.ranked[i].gallery, single.ranked[i].gallery);
      }
    }
  }
}

// record_worst: the valid queries of lowest (AP, row), worst first, each with its AP -- the same
// lists on any number of ranks, plain and re-ranked (whose blocks each keep their own worst).
TEST(Evaluate, WorstQueriesByApOnAnyNumberOfRanks) {
  const auto data = makeSyntheticEval({});
  for (bool rerank : {false, true}) {
    EvalOptions o = options(5);
    o.rerank = rerank;
    o.k1 = 8;
    o.k2 = 3;
    EvaluateRequest every;
    for (int64_t q = 0; q < data.query.size(); ++q) every.record.push_back(q);
    const EvalResults all = evaluate(data.query, data.gallery, o, nullptr, every);
    ASSERT_EQ(static_cast<int64_t>(all.ranked.size()), data.query.size());
    std::vector<RankedList> expected;
    for (const RankedList& l : all.ranked) {
      if (!std::isnan(l.ap)) expected.push_back(l);
    }
    ASSERT_LT(expected.size(), all.ranked.size()) << "the fixture has queries without a match";
    std::sort(expected.begin(), expected.end(), [](const RankedList& a, const RankedList& b) {
      return a.ap < b.ap || (a.ap == b.ap && a.query < b.query);
    });
    expected.resize(6);
    EXPECT_LT(expected.front().ap, 1.0);
    EXPECT_NE(expected.front().query, 0);  // not simply the first rows
    EvaluateRequest worst;
    worst.record_worst = 6;
    for (int world : {1, 2, 3, 4}) {
      std::vector<EvalResults> per_rank(world);
      comm::runRanks(world, [&](comm::Communicator& c) {
        per_rank[c.rank()] = evaluate(data.query, data.gallery, o, &c, worst);
      });
      for (const EvalResults& r : per_rank) {
        ASSERT_EQ(r.ranked.size(), expected.size()) << "world " << world;
        for (size_t i = 0; i < expected.size(); ++i) {
          EXPECT_EQ(r.ranked[i].query, expected[i].query)
              << "rerank " << rerank << " world " << world << " list " << i;
          EXPECT_EQ(r.ranked[i].ap, expected[i].ap);
          EXPECT_EQ(r.ranked[i].gallery, expected[i].gallery);
        }
      }
    }
  }
}

TEST(Evaluate, RejectsBadInputs) {
  auto data = makeSyntheticEval({});
  FeatureSet wide = data.gallery;
  wide.features = at::zeros({wide.size(), 8}, at::kFloat);
  try {
    evaluate(data.query, wide, options(4), nullptr);
    FAIL() << "no error for different dimensions";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("16-d"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("8-d"), std::string::npos) << e.what();
  }
  FeatureSet empty = data.query;
  empty.features = at::zeros({0, 16}, at::kFloat);
  empty.pid.clear();
  empty.camid.clear();
  empty.index.clear();
  empty.occluded.clear();
  EXPECT_THROW(evaluate(empty, data.gallery, options(4), nullptr), InputError);
  EXPECT_THROW(evaluate(data.query, empty, options(4), nullptr), InputError);
}

}  // namespace
}  // namespace agreid::trainer
