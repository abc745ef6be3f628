#include "tests/trainer/eval_test_util.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>

#include "tests/support/test_support.h"

namespace agreid::testing {
namespace {

struct Sampler {
  std::mt19937_64 rng;
  std::normal_distribution<double> normal{0.0, 1.0};
  int64_t uniform(int64_t n) { return std::uniform_int_distribution<int64_t>(0, n - 1)(rng); }
};

// A random vector with exactly four +-1 entries.
std::vector<float> quantisedVector(Sampler& s, int64_t dim) {
  std::vector<float> v(dim, 0.0f);
  int placed = 0;
  while (placed < 4) {
    const int64_t p = s.uniform(dim);
    if (v[p] != 0.0f) continue;
    v[p] = s.uniform(2) ? 1.0f : -1.0f;
    ++placed;
  }
  return v;
}

// A sample near `centre`: Gaussian noise, or (quantised) one entry moved with probability 1/2.
std::vector<float> sampleNear(Sampler& s, const std::vector<float>& centre, double noise,
                              bool quantised) {
  std::vector<float> v = centre;
  if (quantised) {
    if (s.uniform(2)) {
      int64_t from = 0;
      do from = s.uniform(static_cast<int64_t>(v.size()));
      while (v[from] == 0.0f);
      int64_t to = 0;
      do to = s.uniform(static_cast<int64_t>(v.size()));
      while (v[to] != 0.0f);
      v[to] = v[from];
      v[from] = 0.0f;
    }
    return v;
  }
  for (float& x : v) x += static_cast<float>(noise * s.normal(s.rng));
  return v;
}

void add(trainer::FeatureSet& set, std::vector<std::vector<float>>& rows, std::vector<float> f,
         int64_t pid, int64_t camid, uint8_t occluded) {
  rows.push_back(std::move(f));
  set.pid.push_back(pid);
  set.camid.push_back(camid);
  set.index.push_back(static_cast<int64_t>(set.index.size()));
  set.occluded.push_back(occluded);
}

at::Tensor toTensor(const std::vector<std::vector<float>>& rows, int64_t dim) {
  at::Tensor t = at::empty({static_cast<int64_t>(rows.size()), dim}, at::kFloat);
  for (size_t i = 0; i < rows.size(); ++i) {
    std::copy(rows[i].begin(), rows[i].end(), t.data_ptr<float>() + i * dim);
  }
  return t;
}

}  // namespace

SyntheticEval makeSyntheticEval(const SyntheticEvalOptions& o) {
  Sampler s{std::mt19937_64(o.seed)};
  SyntheticEval out;
  std::vector<std::vector<float>> q_rows, g_rows;
  auto centre = [&]() {
    if (o.quantised) return quantisedVector(s, o.dim);
    std::vector<float> c(o.dim);
    for (float& x : c) x = static_cast<float>(s.normal(s.rng));
    return c;
  };
  for (int64_t id = 1; id <= o.identities; ++id) {
    const std::vector<float> c = centre();
    const int64_t pid = 100 + 3 * id;  // non-contiguous ids
    // The draws are sequenced (function arguments are evaluated in an unspecified order, and
    // gcc and clang differ): the same data from every compiler.
    for (int64_t k = 0; k < o.gallery_per_identity; ++k) {
      const auto occluded = static_cast<uint8_t>(s.uniform(5) == 0);
      const int64_t camera = s.uniform(o.cameras);
      add(out.gallery, g_rows, sampleNear(s, c, o.noise, o.quantised), pid, camera, occluded);
    }
    if (o.near_duplicates) {
      std::vector<float> copy = g_rows[g_rows.size() - 1 - s.uniform(o.gallery_per_identity)];
      float& x = copy[s.uniform(o.dim)];
      x = std::nextafter(x, s.uniform(2) ? 1e9f : -1e9f);
      add(out.gallery, g_rows, copy, 0, s.uniform(o.cameras), 0);
    }
    for (int64_t k = 0; k < o.queries_per_identity; ++k) {
      const auto occluded = static_cast<uint8_t>(s.uniform(2));
      const int64_t camera = s.uniform(o.cameras);
      add(out.query, q_rows, sampleNear(s, c, o.noise, o.quantised), pid, camera, occluded);
    }
  }
  for (int64_t k = 0; k < o.distractors; ++k) {
    const int64_t camera = s.uniform(o.cameras);
    add(out.gallery, g_rows, centre(), 0, camera, 0);
  }
  // A query whose pid is not in the gallery, and one whose gallery matches all share its camera.
  add(out.query, q_rows, centre(), 7, 0, 1);
  const std::vector<float> c = centre();
  add(out.query, q_rows, sampleNear(s, c, o.noise, o.quantised), 9, 1, 0);
  add(out.gallery, g_rows, sampleNear(s, c, o.noise, o.quantised), 9, 1, 0);
  add(out.gallery, g_rows, sampleNear(s, c, o.noise, o.quantised), 9, 1, 0);
  out.query.features = toTensor(q_rows, o.dim);
  out.gallery.features = toTensor(g_rows, o.dim);
  out.query.info = {"synthetic.h5", "0", "query", "reid", "none"};
  out.gallery.info = {"synthetic.h5", "0", "gallery", "reid", "none"};
  return out;
}

bool haveNumpyH5py() {
  static const bool ok =
      runShell(shellQuote(AGREID_PYTHON) + " -c 'import numpy, h5py'").exit_code == 0;
  return ok;
}

std::map<std::string, double> runEvalReference(const std::string& query_file,
                                               const std::string& gallery_file,
                                               const std::string& extra) {
  const std::string script = std::string(AGREID_SOURCE_DIR) + "/bench/eval_reference.py";
  const CommandResult r =
      runShell(shellQuote(AGREID_PYTHON) + " " + shellQuote(script) + " --query " +
               shellQuote(query_file) + " --gallery " + shellQuote(gallery_file) + " " + extra);
  if (r.exit_code != 0) {
    ADD_FAILURE() << "eval_reference.py failed (" << r.exit_code << "): " << r.err;
    return {};
  }
  std::map<std::string, double> values;
  std::istringstream is(r.out);
  std::string key, value;
  while (is >> key >> value) values[key] = std::stod(value);
  return values;
}

namespace {
void expectNear(double a, double b, double tol, const std::string& what) {
  if (std::isnan(a) || std::isnan(b)) {
    EXPECT_TRUE(std::isnan(a) && std::isnan(b)) << what << ": " << a << " vs " << b;
  } else {
    EXPECT_NEAR(a, b, tol) << what;
  }
}
}  // namespace

void expectMetricsNear(const trainer::RankingMetrics& a, const trainer::RankingMetrics& b,
                       double tol) {
  EXPECT_EQ(a.num_query, b.num_query);
  EXPECT_EQ(a.num_valid_query, b.num_valid_query);
  expectNear(a.map, b.map, tol, "mAP");
  expectNear(a.minp, b.minp, tol, "mINP");
  ASSERT_EQ(a.cmc.size(), b.cmc.size());
  for (size_t k = 0; k < a.cmc.size(); ++k) expectNear(a.cmc[k], b.cmc[k], tol, "cmc");
}

void expectMatchesReference(const trainer::RankingMetrics& m,
                            const std::map<std::string, double>& ref, const std::string& prefix,
                            double tol) {
  ASSERT_TRUE(ref.count(prefix + ".mAP")) << "reference lacks " << prefix;
  EXPECT_EQ(m.num_valid_query, static_cast<int64_t>(ref.at(prefix + ".num_valid_query")));
  expectNear(m.map, ref.at(prefix + ".mAP"), tol, prefix + ".mAP");
  expectNear(m.minp, ref.at(prefix + ".mINP"), tol, prefix + ".mINP");
  for (size_t k = 0; k < m.cmc.size(); ++k) {
    const std::string key = prefix + ".cmc" + std::to_string(k + 1);
    ASSERT_TRUE(ref.count(key)) << key;
    expectNear(m.cmc[k], ref.at(key), tol, key);
  }
}

}  // namespace agreid::testing
