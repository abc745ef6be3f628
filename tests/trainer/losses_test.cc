// Losses against an independent Python reference (reference/losses_ref.py, Debian's python3 with
// torch): the test dumps fixed double inputs, the script computes every loss and its gradients the
// way the reference toolkits do, and the C++ values and autograd gradients must match.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <vector>

#include "tests/support/test_support.h"
#include "trainer/losses/attribute_losses.h"
#include "trainer/losses/clip_loss.h"
#include "trainer/losses/reid_losses.h"
#include "trainer/losses/supcon_loss.h"

namespace agreid::trainer {
namespace {

using TensorMap = std::map<std::string, at::Tensor>;

void savePickle(const TensorMap& tensors, const std::string& path) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [k, v] : tensors) dict.insert(k, v);
  const std::vector<char> bytes = torch::pickle_save(dict);
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TensorMap loadPickle(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TensorMap out;
  for (const auto& entry : torch::pickle_load(bytes).toGenericDict()) {
    out[entry.key().toStringRef()] = entry.value().toTensor();
  }
  return out;
}

TensorMap makeInputs() {
  torch::manual_seed(7);
  const auto opts = torch::TensorOptions().dtype(torch::kDouble);
  TensorMap in;
  in["labels"] = torch::tensor({0, 0, 1, 1, 2, 2, 3, 3}, torch::kLong);
  in["logits"] = torch::randn({8, 5}, opts) * 2.0;
  in["features"] = torch::randn({8, 6}, opts);
  in["text"] = torch::randn({5, 6}, opts);
  in["text_rows"] = torch::randn({8, 6}, opts);
  in["attr_pred"] = torch::randn({8, 4, 5}, opts);
  in["attr_target"] = torch::randn({8, 4, 5}, opts);
  in["clip_image"] = torch::randn({6, 5}, opts);
  in["clip_text"] = torch::randn({6, 5}, opts);
  in["log_scale"] = torch::tensor({std::log(1.0 / 0.07)}, opts);
  in["epsilon"] = torch::tensor({0.1}, opts);
  in["margin"] = torch::tensor({0.3}, opts);
  return in;
}

class LossesReferenceTest : public ::testing::Test {
 protected:
  // The reference runs once for the suite (importing torch takes seconds).
  static void SetUpTestSuite() {
    have_python_ = testing::havePythonTorch();
    if (!have_python_) return;
    testing::TempDir dir;
    savePickle(makeInputs(), dir.file("in.pt"));
    const auto r = testing::runShell(testing::shellQuote(AGREID_PYTHON) + " " +
                                     testing::shellQuote(std::string(AGREID_SOURCE_DIR) +
                                                         "/tests/trainer/reference/losses_ref.py") +
                                     " " + dir.file("in.pt") + " " + dir.file("out.pt"));
    if (r.exit_code != 0) {
      reference_error_ = new std::string(r.err);
      return;
    }
    reference_ = new TensorMap(loadPickle(dir.file("out.pt")));
  }
  static void TearDownTestSuite() {
    delete reference_;
    delete reference_error_;
    reference_ = nullptr;
    reference_error_ = nullptr;
  }

  void SetUp() override {
    if (!have_python_) GTEST_SKIP() << "Debian's python3 with torch not found";
    ASSERT_EQ(reference_error_, nullptr) << "reference failed: " << *reference_error_;
    ASSERT_NE(reference_, nullptr);
    inputs_ = makeInputs();
    ref_ = *reference_;
  }

  at::Tensor var(const std::string& name) { return inputs_.at(name).clone().requires_grad_(true); }

  // Compares `loss` and its gradients w.r.t. `wrt` with the reference entries `name/...`.
  void expectMatches(const std::string& name, const at::Tensor& loss,
                     const std::vector<std::pair<std::string, at::Tensor>>& wrt) {
    ASSERT_TRUE(ref_.count(name + "/value")) << name;
    EXPECT_NEAR(loss.item<double>(), ref_.at(name + "/value").item<double>(), 1e-10) << name;
    std::vector<at::Tensor> leaves;
    for (const auto& w : wrt) leaves.push_back(w.second);
    const auto grads = torch::autograd::grad({loss}, leaves, {}, /*retain_graph=*/false,
                                             /*create_graph=*/false, /*allow_unused=*/true);
    for (size_t i = 0; i < wrt.size(); ++i) {
      const at::Tensor expected = ref_.at(name + "/grad_" + wrt[i].first);
      const at::Tensor got = grads[i].defined() ? grads[i] : torch::zeros_like(expected);
      EXPECT_TRUE(torch::allclose(got, expected, 1e-9, 1e-11))
          << name << " d/d" << wrt[i].first << "\n"
          << got << "\nexpected\n"
          << expected;
    }
  }

  static bool have_python_;
  static TensorMap* reference_;
  static std::string* reference_error_;
  TensorMap inputs_, ref_;
};

bool LossesReferenceTest::have_python_ = false;
TensorMap* LossesReferenceTest::reference_ = nullptr;
std::string* LossesReferenceTest::reference_error_ = nullptr;

TEST_F(LossesReferenceTest, LabelSmoothedCrossEntropy) {
  auto logits = var("logits");
  expectMatches("ce", crossEntropyLabelSmooth(logits, inputs_["labels"], 0.1),
                {{"logits", logits}});
  auto logits0 = var("logits");
  expectMatches("ce0", crossEntropyLabelSmooth(logits0, inputs_["labels"], 0.0),
                {{"logits", logits0}});
}

TEST_F(LossesReferenceTest, BatchHardTriplet) {
  auto f = var("features");
  expectMatches("triplet", batchHardTripletLoss(f, inputs_["labels"], TripletOptions{0.3}),
                {{"features", f}});
}

TEST_F(LossesReferenceTest, ImageToTextCrossEntropy) {
  auto f = var("features");
  auto t = var("text");
  expectMatches("i2t", imageToTextCrossEntropy(f, t, inputs_["labels"], 0.1),
                {{"features", f}, {"text", t}});
}

TEST_F(LossesReferenceTest, SupConBothDirections) {
  auto f = var("features");
  auto t = var("text_rows");
  const auto& y = inputs_["labels"];
  expectMatches("supcon", supConLoss(f, t, y, y) + supConLoss(t, f, y, y),
                {{"features", f}, {"text_rows", t}});
}

TEST_F(LossesReferenceTest, AttributeAlignmentStopsGradientToTokens) {
  auto a = var("attr_pred");
  auto v = var("attr_target");
  expectMatches("attr_align", attributeAlignmentLoss(a, v), {{"attr_pred", a}, {"attr_target", v}});
}

TEST_F(LossesReferenceTest, AttributeGuidanceWithOtsuMask) {
  auto a = var("attr_pred");
  auto v = var("attr_target");
  const AttributeGuidance g = attributeGuidanceLoss(a, v, {GuidanceMask::kOtsu});
  EXPECT_DOUBLE_EQ(g.gamma.item<double>(), ref_.at("otsu/gamma").item<double>());
  EXPECT_GT(g.kept_fraction.item<double>(), 0.0);
  EXPECT_LT(g.kept_fraction.item<double>(), 1.0);
  expectMatches("attr_guide", g.loss, {{"attr_pred", a}, {"attr_target", v}});
}

TEST_F(LossesReferenceTest, AttributeGuidanceWithoutMask) {
  auto a = var("attr_pred");
  auto v = var("attr_target");
  const AttributeGuidance g = attributeGuidanceLoss(a, v, {GuidanceMask::kNone});
  EXPECT_EQ(g.gamma.item<double>(), -1.0);
  EXPECT_EQ(g.kept_fraction.item<double>(), 1.0);
  expectMatches("attr_guide_none", g.loss, {{"attr_pred", a}, {"attr_target", v}});
}

TEST_F(LossesReferenceTest, ClipContrastiveSingleRank) {
  auto img = var("clip_image");
  auto txt = var("clip_text");
  auto scale = var("log_scale");
  expectMatches("clip", clipContrastiveLoss(img, txt, scale),
                {{"clip_image", img}, {"clip_text", txt}, {"log_scale", scale}});
}

TEST(OtsuThresholdTest, SplitsTwoClusters) {
  const at::Tensor v = torch::cat({torch::full({50}, -0.5), torch::full({30}, 0.6)});
  const double t = otsuThreshold(v).item<double>();
  EXPECT_GE(t, -0.5);
  EXPECT_LT(t, 0.6);
  EXPECT_EQ(v.gt(t).sum().item<int64_t>(), 30);
}

// The tensor Otsu equals a plain loop over the histogram (an independent reference: counts,
// then every split in order, the first maximum kept) on random cosines of several shapes.
double loopOtsu(const at::Tensor& values) {
  const at::Tensor flat = values.to(torch::kDouble).contiguous().view(-1);
  const double* v = flat.data_ptr<double>();
  constexpr int kBins = 256;
  const double width = 2.0 / kBins;
  std::vector<double> hist(kBins, 0.0), centre(kBins);
  for (int64_t i = 0; i < flat.numel(); ++i) {
    hist[std::clamp(static_cast<int>(std::floor((v[i] + 1.0) / width)), 0, kBins - 1)] += 1.0;
  }
  double count = 0, sum = 0;
  for (int k = 0; k < kBins; ++k) {
    centre[k] = -1.0 + (k + 0.5) * width;
    count += hist[k];
    sum += hist[k] * centre[k];
  }
  double best = -1, w0 = 0, s0 = 0;
  int best_k = 0;
  for (int k = 0; k < kBins - 1; ++k) {
    w0 += hist[k];
    s0 += hist[k] * centre[k];
    const double w1 = count - w0;
    const double mu0 = w0 > 0 ? s0 / w0 : 0, mu1 = w1 > 0 ? (sum - s0) / w1 : 0;
    const double var = w0 > 0 && w1 > 0 ? w0 * w1 * (mu0 - mu1) * (mu0 - mu1) : 0.0;
    if (var > best) best = var, best_k = k;
  }
  return centre[best_k];
}

TEST(OtsuThresholdTest, TensorFormEqualsTheLoopOnRandomCosines) {
  torch::manual_seed(3);
  for (int trial = 0; trial < 40; ++trial) {
    const int64_t n = 1 + trial * 13;
    const at::Tensor v = (torch::rand({n, 4}) * 2 - 1).pow(trial % 3 + 1);  // skewed by odd powers
    EXPECT_EQ(otsuThreshold(v).item<double>(), loopOtsu(v)) << "trial " << trial;
  }
  // Values outside [-1, 1] land in the end bins; one value; all equal.
  for (const at::Tensor& v :
       {torch::tensor({-3.0, 0.2, 5.0}), torch::tensor({0.4}), torch::full({7}, -0.25)}) {
    EXPECT_EQ(otsuThreshold(v).item<double>(), loopOtsu(v));
  }
}

// Two images, r = 2 tokens in 2-d: cosines image 0: (1, 0), image 1: (0, -1).
// Per image mean over tokens: 0.5 and -0.5.
struct TwoImageTokens {
  at::Tensor a = torch::tensor({1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0}, torch::kDouble)
                     .view({2, 2, 2})
                     .requires_grad_(true);
  at::Tensor v = torch::tensor({2.0, 0.0, 0.0, 3.0, 1.0, 1.0, -1.0, 0.0}, torch::kDouble)
                     .view({2, 2, 2})
                     .requires_grad_(true);
};

TEST(AttributeLossFormsTest, AlignmentMeanAndSumHandComputed) {
  // cos: image 0 = (1, 0); image 1 = (cos(45deg), -1) = (0.70711, -1).
  // per image: 0.5, -0.14645. mean: -(0.17678) ; sum: -(0.35355).
  TwoImageTokens t;
  const double c = std::sqrt(0.5);
  const double mean = -((1.0 + 0.0) / 2 + (c - 1.0) / 2) / 2;
  AlignmentOptions o;
  EXPECT_NEAR(attributeAlignmentLoss(t.a, t.v, o).item<double>(), mean, 1e-12);
  o.reduction = AttrReduction::kSum;
  EXPECT_NEAR(attributeAlignmentLoss(t.a, t.v, o).item<double>(), 2 * mean, 1e-12);
}

TEST(AttributeLossFormsTest, GradientReachesTokensOnlyWhenJoint) {
  for (bool joint : {false, true}) {
    TwoImageTokens t;
    AlignmentOptions o;
    o.joint = joint;
    attributeAlignmentLoss(t.a, t.v, o).backward();
    ASSERT_TRUE(t.a.grad().defined());
    EXPECT_GT(t.a.grad().abs().sum().item<double>(), 0.0);
    if (joint) {
      ASSERT_TRUE(t.v.grad().defined());
      EXPECT_GT(t.v.grad().abs().sum().item<double>(), 0.0);
    } else {
      EXPECT_FALSE(t.v.grad().defined() && t.v.grad().abs().sum().item<double>() > 0.0);
    }
  }
}

TEST(AttributeLossFormsTest, GuidanceSumIsBatchTimesMeanAndMaskedByPercentile) {
  TwoImageTokens t;
  const double c = std::sqrt(0.5);
  AttributeGuidanceOptions o;
  o.mask = GuidanceMask::kNone;
  const double mean = attributeGuidanceLoss(t.a, t.v, o).loss.item<double>();
  EXPECT_NEAR(mean, -((1.0 + 0.0) / 2 + (c - 1.0) / 2) / 2, 1e-12);
  o.reduction = AttrReduction::kSum;
  EXPECT_NEAR(attributeGuidanceLoss(t.a, t.v, o).loss.item<double>(), 2 * mean, 1e-12);
  // Cosines sorted: -1, 0, 0.70711, 1. P50 = (0 + 0.70711) / 2: keeps 0.70711 and 1.
  o.mask = GuidanceMask::kP50;
  const AttributeGuidance g = attributeGuidanceLoss(t.a, t.v, o);
  EXPECT_NEAR(g.gamma.item<double>(), c / 2, 1e-12);
  EXPECT_DOUBLE_EQ(g.kept_fraction.item<double>(), 0.5);
  EXPECT_NEAR(g.loss.item<double>(), -(1.0 / 2 + c / 2), 1e-12);
  // A threshold fixed from outside (an epoch's) wins over the batch's own.
  o.fixed_gamma = torch::full({}, 0.9, torch::kDouble);
  EXPECT_DOUBLE_EQ(attributeGuidanceLoss(t.a, t.v, o).kept_fraction.item<double>(), 0.25);
}

// The oracle mask keeps exactly the tokens it is given (their regions' true visibility),
// whatever their cosines; gamma is -1.
TEST(AttributeLossFormsTest, OracleMaskKeepsTheGivenTokens) {
  TwoImageTokens t;
  AttributeGuidanceOptions o;
  o.mask = GuidanceMask::kOracle;
  o.oracle_keep = torch::tensor({0.0, 1.0, 1.0, 0.0}, torch::kDouble).view({2, 2});
  const AttributeGuidance g = attributeGuidanceLoss(t.a, t.v, o);
  EXPECT_TRUE(torch::equal(g.keep, o.oracle_keep));
  EXPECT_DOUBLE_EQ(g.gamma.item<double>(), -1.0);
  // Kept cosines: image 0 token 1 (0), image 1 token 0 (0.70711); mean over r = 2, then images.
  EXPECT_NEAR(g.loss.item<double>(), -((0.0 / 2) + (std::sqrt(0.5) / 2)) / 2, 1e-12);
}

TEST(AttributeLossFormsTest, PercentileMatchesNumpyInterpolation) {
  const at::Tensor v = torch::tensor({3.0, 1.0, 2.0, 4.0, 10.0});
  // numpy.percentile([1,2,3,4,10], 75) = 4.0; 90 -> 4 + 0.6 * 6 = 7.6; 0 -> 1; 100 -> 10.
  EXPECT_NEAR(percentileThreshold(v, 75).item<double>(), 4.0, 1e-12);
  EXPECT_NEAR(percentileThreshold(v, 90).item<double>(), 7.6, 1e-6);
  EXPECT_NEAR(percentileThreshold(v, 0).item<double>(), 1.0, 1e-12);
  EXPECT_NEAR(percentileThreshold(v, 100).item<double>(), 10.0, 1e-12);
}

TEST(TripletLossTest, OneDimensionalHandComputed) {
  // Points 0, 1 (label 0) and 3, 3.5 (label 1): anchor 0: d_ap 1, d_an 3 -> 0; anchor 1:
  // d_ap 1, d_an 2 -> 0; anchor 3: d_ap .5, d_an 2 -> 0; anchor 3.5: d_ap .5, d_an 2.5 -> 0.
  // With margin 2.0: max(0, 1-3+2)=0, max(0, 1-2+2)=1, .5, 0 -> mean 0.375.
  const at::Tensor f = torch::tensor({0.0, 1.0, 3.0, 3.5}, torch::kDouble).unsqueeze(1);
  const at::Tensor y = torch::tensor({0, 0, 1, 1}, torch::kLong);
  EXPECT_NEAR(batchHardTripletLoss(f, y, TripletOptions{2.0}).item<double>(), 0.375, 1e-5);
  EXPECT_NEAR(batchHardTripletLoss(f, y, TripletOptions{0.3}).item<double>(), 0.0, 1e-12);
}

}  // namespace
}  // namespace agreid::trainer
