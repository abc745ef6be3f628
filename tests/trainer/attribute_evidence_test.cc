// Tests of the measurements that say whether a CLIP and its pseudo-labels carry attributes:
// held-out people, zero-shot accuracy with its majority baseline, and the token-block probe.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "trainer/stages/attribute_tokens.h"
#include "trainer/stages/zero_shot.h"

namespace agreid::trainer {
namespace {

TEST(HeldOutPeopleTest, HoldsOutWholePeopleAndNeverTheirImagesInTraining) {
  std::vector<int32_t> pids;
  for (int p = 0; p < 50; ++p)
    for (int i = 0; i < 3; ++i) pids.push_back(1000 + p);
  const HeldOutSplit s = splitHeldOutPeople(pids, 5, 7);
  EXPECT_EQ(s.people.size(), 5u);
  EXPECT_EQ(s.holdout.size(), 15u);
  EXPECT_EQ(s.train.size(), 135u);
  std::set<int32_t> held, trained;
  for (int64_t i : s.holdout) held.insert(pids[i]);
  for (int64_t i : s.train) trained.insert(pids[i]);
  for (int32_t p : held) EXPECT_EQ(trained.count(p), 0u) << p;
  for (size_t k = 0; k < s.people.size(); ++k) EXPECT_EQ(held.count(pids[s.people[k]]), 1u);
  // Seeded; at most a fifth of the people.
  EXPECT_EQ(splitHeldOutPeople(pids, 5, 7).holdout, s.holdout);
  EXPECT_EQ(splitHeldOutPeople(pids, 1000, 7).people.size(), 10u);
}

TEST(ZeroShotTest, AccuracyAndMajorityBaselineHandComputed) {
  // Two values in 2-d: value 0 along x, value 1 along y. Four images: truth 0, 0, 0, 1;
  // features predict 0, 1, 0, 1 -> accuracy 3/4. Majority (from training) = 0 -> 3/4.
  const at::Tensor values = torch::tensor({1.0, 0.0, 0.0, 1.0}).view({2, 2});
  const at::Tensor images = torch::tensor({2.0, 0.1, 0.1, 2.0, 1.0, 0.0, 0.0, 3.0}).view({4, 2});
  const at::Tensor truth = torch::tensor({0, 0, 0, 1}, torch::kLong).view({4, 1});
  ZeroShotReport r;
  scoreZeroShotAttributes(images, truth, {values}, {"upper_colour"},
                          majorityValues(torch::tensor({0, 0, 1}, torch::kLong).view({3, 1})), r);
  ASSERT_EQ(r.attributes.size(), 1u);
  EXPECT_DOUBLE_EQ(r.attributes[0].accuracy, 0.75);
  EXPECT_DOUBLE_EQ(r.attributes[0].majority, 0.75);
  EXPECT_DOUBLE_EQ(r.colour_accuracy, 0.75);
  EXPECT_EQ(r.attributes[0].visible_accuracy, -1);  // no visibility given
  EXPECT_EQ(r.colour_visible_accuracy, -1);
  // Where visible: image 1 (the wrong prediction) has its region hidden -> 3 of 3 right; the
  // majority answer (0) is right on images 0 and 2 of the three.
  ZeroShotReport rv;
  scoreZeroShotAttributes(images, truth, {values}, {"upper_colour"},
                          majorityValues(torch::tensor({0, 0, 1}, torch::kLong).view({3, 1})), rv,
                          torch::tensor({1.0f, 0.2f, 0.5f, 1.0f}).view({4, 1}));
  EXPECT_DOUBLE_EQ(rv.attributes[0].accuracy, 0.75);
  EXPECT_EQ(rv.attributes[0].visible_images, 3);
  EXPECT_DOUBLE_EQ(rv.attributes[0].visible_accuracy, 1.0);
  EXPECT_NEAR(rv.attributes[0].visible_majority, 2.0 / 3, 1e-12);
  EXPECT_DOUBLE_EQ(rv.colour_visible_accuracy, 1.0);
  // Unknown values (-1) are not counted.
  ZeroShotReport r2;
  scoreZeroShotAttributes(images, torch::tensor({0, -1, 0, 1}, torch::kLong).view({4, 1}), {values},
                          {"gender"}, torch::tensor({1}, torch::kLong), r2);
  EXPECT_EQ(r2.attributes[0].images, 3);
  EXPECT_DOUBLE_EQ(r2.attributes[0].accuracy, 1.0);
  EXPECT_NEAR(r2.attributes[0].majority, 1.0 / 3, 1e-12);
  EXPECT_EQ(r2.colour_accuracy, -1);
}

TEST(ZeroShotTest, RetrievalRecallCountsStrictlyHigherCaptions) {
  const at::Tensor image = torch::eye(3);
  const at::Tensor text = torch::tensor({1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0}).view({3, 3});
  const auto [r1, r5] = retrievalRecall(image, text);  // image 1 and 2 swap captions
  EXPECT_NEAR(r1, 1.0 / 3, 1e-12);
  EXPECT_DOUBLE_EQ(r5, 1.0);
}

TEST(TokenBlocksTest, RunsOfAdjacentPlaceholders) {
  const auto blocks = tokenBlocks({5, 6, 9, 10, 11, 20});
  ASSERT_EQ(blocks.size(), 3u);
  EXPECT_EQ(blocks[0], (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(blocks[1], (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(blocks[2], (std::vector<int64_t>{5}));
}

// Identities with two attributes (a: 3 values, b: 4 values); tokens of block 0 encode a and
// block 1 encodes b (plus small noise): the probe must show the diagonal, and permuting the
// identities must destroy it.
struct StructuredTokens {
  static constexpr int64_t kIds = 120;
  at::Tensor attrs = torch::zeros({kIds, 2}, torch::kLong);
  at::Tensor tokens;
  StructuredTokens() {
    torch::manual_seed(3);
    const at::Tensor code_a = torch::randn({3, 8}), code_b = torch::randn({4, 8});
    tokens = 0.05 * torch::randn({kIds, 2, 8});
    for (int64_t k = 0; k < kIds; ++k) {
      attrs[k][0] = k % 3;
      attrs[k][1] = (k / 3) % 4;
      tokens[k][0] += code_a[k % 3];
      tokens[k][1] += code_b[(k / 3) % 4];
    }
  }
};

TEST(TokenProbeTest, StructuredTokensShowTheDiagonalAndPermutedOnesDoNot) {
  StructuredTokens s;
  const auto blocks = tokenBlocks({1, 3});  // two blocks of one token each
  const TokenProbe p = probeTokenBlocks(s.tokens, blocks, s.attrs, {"a", "b"}, {0, 1});
  ASSERT_EQ(p.attributes.size(), 2u);
  EXPECT_EQ(p.blocks, (std::vector<std::string>{"a", "b"}));
  EXPECT_DOUBLE_EQ(p.accuracy[0][0].item<double>(), 1.0);
  EXPECT_DOUBLE_EQ(p.accuracy[1][1].item<double>(), 1.0);
  EXPECT_LT(p.accuracy[0][1].item<double>(), 0.6);  // b's block says little about a
  EXPECT_NEAR(p.majority[0].item<double>(), 1.0 / 3, 1e-12);
  EXPECT_EQ(diagonalWins(p), 2);
  const TokenProbe q =
      probeTokenBlocks(permuteIdentities(s.tokens, 11), blocks, s.attrs, {"a", "b"}, {0, 1});
  EXPECT_LT(q.accuracy[0][0].item<double>(), 0.6);
  EXPECT_LT(q.accuracy[1][1].item<double>(), 0.6);
  EXPECT_FALSE(describeProbe(p).empty());
}

}  // namespace
}  // namespace agreid::trainer
