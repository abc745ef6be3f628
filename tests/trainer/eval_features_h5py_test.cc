// Features files written by h5py with its defaults (tests/trainer/reference/features_h5py.py, the
// snippet of docs/evaluation.md): variable- and fixed-length string attributes, float64 features,
// numpy bool flags -- `agreid eval` gives the same results as on agreid's own file. Non-finite
// feature values, and attributes holding a list where one value belongs, are refused in one line
// naming the file and the dataset or attribute.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "base/error.h"
#include "tests/support/test_support.h"
#include "tests/trainer/eval_test_util.h"
#include "trainer/eval/features_file.h"

namespace agreid::trainer {
namespace {

using agreid::testing::lineCount;
using agreid::testing::readFile;
using agreid::testing::runAgreid;
using agreid::testing::TempDir;

// Rewrites agreid features file `in` as `out` with the h5py script in `mode`.
void rewrite(const std::string& in, const std::string& out, const std::string& mode) {
  const auto r =
      agreid::testing::runPythonScript("tests/trainer/reference/features_h5py.py", {in, out, mode});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

// results.json of `agreid eval` on a query and a gallery file.
std::string evalJson(const TempDir& tmp, const std::string& query, const std::string& gallery,
                     const std::string& name) {
  const std::string out = tmp.file(name);
  const auto r = runAgreid({"eval", "--features", query, "--gallery", gallery, "--out", out});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return readFile(out + "/results.json");
}

class H5pyFeatures : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::haveNumpyH5py()) GTEST_SKIP() << "/usr/bin/python3 lacks numpy or h5py";
    data_.query.info = {"market.h5", "abc", "query", "clip", "clip.pt"};
    data_.gallery.info = {"market.h5", "abc", "gallery", "clip", "clip.pt"};
    writeFeaturesFile(query_, data_.query);
    writeFeaturesFile(gallery_, data_.gallery);
  }
  TempDir tmp_;
  testing::SyntheticEval data_ = testing::makeSyntheticEval({});
  std::string query_ = tmp_.file("query.h5"), gallery_ = tmp_.file("gallery.h5");
};

TEST_F(H5pyFeatures, DefaultsAndFixedStringsEvaluateAsAgreidsOwnFile) {
  const std::string expected = evalJson(tmp_, query_, gallery_, "own");
  ASSERT_FALSE(expected.empty());
  for (const std::string mode : {"defaults", "fixed"}) {
    const std::string q = tmp_.file(mode + "_query.h5"), g = tmp_.file(mode + "_gallery.h5");
    rewrite(query_, q, mode);
    rewrite(gallery_, g, mode);
    EXPECT_EQ(evalJson(tmp_, q, g, mode), expected) << mode;
    const FeatureSet read = readFeaturesFile(q);
    EXPECT_TRUE(at::equal(read.features, data_.query.features)) << mode;
    EXPECT_EQ(read.pid, data_.query.pid) << mode;
    EXPECT_EQ(read.occluded, data_.query.occluded) << mode;
    EXPECT_EQ(read.info.split, "query") << mode;
    EXPECT_EQ(read.info.weights, "clip.pt") << mode;
  }
}

TEST_F(H5pyFeatures, NonFiniteValuesFailInOneLine) {
  FeatureSet bad = data_.query;
  bad.features = bad.features.clone();
  bad.features[3][1] = NAN;
  const std::string path = tmp_.file("nan.h5");
  writeFeaturesFile(path, bad);
  const auto r =
      runAgreid({"eval", "--features", path, "--gallery", gallery_, "--out", tmp_.file("nan_out")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(lineCount(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(path + ": dataset 'features' holds a non-finite value (NaN or infinity) "
                              "at row 3, column 1"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(tmp_.file("nan_out/results.json")));
  bad.features[3][1] = INFINITY;
  writeFeaturesFile(path, bad);
  EXPECT_THROW(readFeaturesFile(path), InputError);
}

// libhdf5 writes every value of an attribute into the buffer it is given: a list read into room for
// one overran it (a stack-buffer-overflow under ASan, silent otherwise).
TEST_F(H5pyFeatures, AttributeHoldingAListFailsInOneLine) {
  for (const auto& [mode, name] : {std::pair<std::string, std::string>{"many-strings", "split"},
                                   {"many-integers", "format_version"}}) {
    const std::string path = tmp_.file(mode + ".h5");
    rewrite(query_, path, mode);
    const auto r = runAgreid(
        {"eval", "--features", path, "--gallery", gallery_, "--out", tmp_.file(mode + "_out")});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(lineCount(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(path + ": cannot read attribute '" + name +
                         "' (expected one string or one integer)"),
              std::string::npos)
        << r.err;
  }
}

}  // namespace
}  // namespace agreid::trainer
