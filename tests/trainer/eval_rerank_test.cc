// k-reciprocal re-ranking against the NumPy transcription of CLIP-ReID's reranking.py
// (bench/eval_reference.py --rerank), W ranks == 1 rank, and the size limit.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include <fstream>
#include <sstream>

#include "base/error.h"
#include "comm/thread_communicator.h"
#include "tests/support/test_support.h"
#include "tests/trainer/eval_test_util.h"
#include "trainer/eval/metrics.h"
#include "trainer/eval/rerank.h"

namespace agreid::trainer {
namespace {

EvalOptions rerankOptions(int64_t k1, int64_t k2) {
  EvalOptions o;
  o.rerank = true;
  o.k1 = k1;
  o.k2 = k2;
  o.lambda = 0.3;
  o.block_size = 16;
  return o;
}

std::vector<std::vector<double>> readMatrix(const std::string& path) {
  std::vector<std::vector<double>> rows;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream is(line);
    rows.emplace_back();
    std::string v;
    while (is >> v) rows.back().push_back(std::stod(v));
  }
  return rows;
}

struct RerankCase {
  int64_t k1, k2;
  bool quantised;
};

class RerankReference : public ::testing::TestWithParam<RerankCase> {};

TEST_P(RerankReference, AgreesWithNumpy) {
  if (!testing::haveNumpyH5py()) GTEST_SKIP() << "/usr/bin/python3 lacks numpy or h5py";
  const RerankCase c = GetParam();
  testing::SyntheticEvalOptions so;
  so.identities = 12;
  so.distractors = 10;
  so.quantised = c.quantised;
  so.seed = 21 + c.k1;
  const auto data = testing::makeSyntheticEval(so);
  testing::TempDir tmp;
  writeFeaturesFile(tmp.file("q.h5"), data.query);
  writeFeaturesFile(tmp.file("g.h5"), data.gallery);
  const auto ref = testing::runEvalReference(
      tmp.file("q.h5"), tmp.file("g.h5"),
      "--rerank --k1 " + std::to_string(c.k1) + " --k2 " + std::to_string(c.k2) +
          " --lambda 0.3 --max-rank 20 --distances " + tmp.file("d.txt"));
  const auto expected = readMatrix(tmp.file("d.txt"));
  ASSERT_EQ(static_cast<int64_t>(expected.size()), data.query.size());

  EvalOptions o = rerankOptions(c.k1, c.k2);
  o.max_rank = 20;
  const KReciprocalReranker reranker(data.query, data.gallery, o, nullptr);
  const at::Tensor d = reranker.rows(0, data.query.size());
  ASSERT_EQ(d.size(1), data.gallery.size());
  double worst = 0.0;
  for (int64_t q = 0; q < d.size(0); ++q) {
    for (int64_t g = 0; g < d.size(1); ++g) {
      worst = std::max(worst, std::abs(d[q][g].item<double>() - expected[q][g]));
    }
  }
  EXPECT_LT(worst, 1e-9);

  const EvalResults r = evaluate(data.query, data.gallery, o, nullptr);
  EXPECT_TRUE(r.reranked);
  testing::expectMatchesReference(r.all, ref, "all", 1e-6);
  testing::expectMatchesReference(*r.occluded, ref, "occluded", 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Cases, RerankReference,
                         ::testing::Values(RerankCase{6, 3, false}, RerankCase{5, 1, false},
                                           RerankCase{20, 6, true}, RerankCase{300, 15, false}),
                         [](const auto& info) {
                           return "k1_" + std::to_string(info.param.k1) + "_k2_" +
                                  std::to_string(info.param.k2) +
                                  (info.param.quantised ? "_quantised" : "");
                         });

TEST(Rerank, RanksAsThreadsEqualOneRank) {
  const auto data = testing::makeSyntheticEval({});
  const EvalOptions o = rerankOptions(8, 4);
  const EvalResults single = evaluate(data.query, data.gallery, o, nullptr);
  for (int world : {2, 3}) {
    std::vector<EvalResults> per_rank(world);
    comm::runRanks(world, [&](comm::Communicator& c) {
      per_rank[c.rank()] = evaluate(data.query, data.gallery, o, &c);
    });
    for (const auto& r : per_rank) testing::expectMetricsNear(r.all, single.all, 0.0);
  }
}

// Both phases report progress, in order, ending at their totals; results are unchanged.
TEST(Rerank, ReportsProgressOfNeighboursThenScoring) {
  const auto data = testing::makeSyntheticEval({});
  EvalOptions o = rerankOptions(8, 4);
  o.block_size = 7;
  std::vector<std::string> calls;
  EvaluateRequest request;
  request.neighbours_progress = [&](int64_t done, int64_t total) {
    calls.push_back("n " + std::to_string(done) + "/" + std::to_string(total));
  };
  request.progress = [&](int64_t done, int64_t total) {
    calls.push_back("q " + std::to_string(done) + "/" + std::to_string(total));
  };
  const EvalResults with = evaluate(data.query, data.gallery, o, nullptr, request);
  const int64_t all = data.query.size() + data.gallery.size();
  const int64_t q = data.query.size();
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.front(), "n 7/" + std::to_string(all));
  const auto last_n =
      std::find(calls.begin(), calls.end(), "n " + std::to_string(all) + "/" + std::to_string(all));
  ASSERT_NE(last_n, calls.end());
  ASSERT_NE(last_n + 1, calls.end());
  EXPECT_EQ(*(last_n + 1), "q 7/" + std::to_string(q));
  EXPECT_EQ(calls.back(), "q " + std::to_string(q) + "/" + std::to_string(q));
  testing::expectMetricsNear(with.all, evaluate(data.query, data.gallery, o, nullptr).all, 0.0);
}

TEST(Rerank, RefusesAboveTheSizeLimit) {
  const auto data = testing::makeSyntheticEval({});
  EvalOptions o = rerankOptions(8, 4);
  o.rerank_max_samples = 50;
  try {
    evaluate(data.query, data.gallery, o, nullptr);
    FAIL() << "no error above eval.rerank_max_samples";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("eval.rerank_max_samples = 50"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace agreid::trainer
