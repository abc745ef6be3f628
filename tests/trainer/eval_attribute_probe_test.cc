// The linear attribute probe (trainer/eval/attribute_probe.h): it reads an attribute that the
// features encode linearly, it cannot read one that only identity memorisation would give (folds
// are over identities), and it splits its cells by the stored visibility.
#include "trainer/eval/attribute_probe.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "trainer/util/json.h"

namespace agreid::trainer {
namespace {

constexpr int64_t kIdentities = 60, kImages = 6, kValues = 4;

struct World {
  at::Tensor features, truth, visibility;
  std::vector<int64_t> pids;
};

// Each identity has one value of a single attribute; its images encode that value in the first
// kValues dimensions when the attribute is visible, and carry only noise when it is hidden (every
// third image).
World makeWorld(uint64_t seed) {
  torch::manual_seed(seed);
  World w;
  const int64_t n = kIdentities * kImages, d = 16;
  w.features = 0.05 * torch::randn({n, d}, torch::kDouble);
  w.truth = torch::empty({n, 1}, torch::kLong);
  w.visibility = torch::ones({n, 1}, torch::kFloat);
  for (int64_t k = 0; k < kIdentities; ++k) {
    const int64_t value = (k * 7 + 3) % kValues;
    for (int64_t j = 0; j < kImages; ++j) {
      const int64_t i = k * kImages + j;
      w.pids.push_back(100 + k);
      w.truth[i][0] = value;
      if (j % 3 == 2) {
        w.visibility[i][0] = 0.2f;
      } else {
        w.features[i][value] += 1.0;
      }
    }
  }
  return w;
}

TEST(AttributeProbeTest, ReadsALinearlyEncodedAttributeWhereItIsVisible) {
  const World w = makeWorld(1);
  const auto report = probeAttributes(w.features, w.pids, w.truth, w.visibility, {"colour"}, {});
  EXPECT_EQ(report.images, kIdentities * kImages);
  EXPECT_EQ(report.identities, kIdentities);
  EXPECT_EQ(report.folds, 5);
  ASSERT_EQ(report.groups.size(), 1u);
  EXPECT_EQ(report.groups[0].values, kValues);
  EXPECT_EQ(report.visible.cells, kIdentities * 4);
  EXPECT_EQ(report.hidden.cells, kIdentities * 2);
  EXPECT_EQ(report.all.cells, report.visible.cells + report.hidden.cells);
  EXPECT_DOUBLE_EQ(report.visible.accuracy, 1.0);
  EXPECT_LT(report.hidden.accuracy, 0.6);  // noise: near chance (0.25)
  EXPECT_LT(report.visible.majority, 0.5);
  EXPECT_DOUBLE_EQ(report.all.accuracy, (report.visible.accuracy * report.visible.cells +
                                         report.hidden.accuracy * report.hidden.cells) /
                                            report.all.cells);
}

TEST(AttributeProbeTest, IdentityMemorisationDoesNotLeakAcrossFolds) {
  // Features that name the identity (one-hot of the pid) and nothing else: a probe tested on the
  // identities it was trained on would read every attribute; across identity folds it cannot.
  World w = makeWorld(2);
  const int64_t n = kIdentities * kImages;
  w.features = torch::zeros({n, kIdentities}, torch::kDouble);
  for (int64_t i = 0; i < n; ++i) w.features[i][i / kImages] = 1.0;
  const auto report = probeAttributes(w.features, w.pids, w.truth, {}, {"colour"}, {});
  EXPECT_FALSE(report.has_visibility);
  EXPECT_EQ(report.visible.cells, 0);
  EXPECT_TRUE(std::isnan(report.visible.accuracy));
  EXPECT_LE(report.all.accuracy, report.all.majority + 0.05);
}

TEST(AttributeProbeTest, SkipsMissingValuesAndWritesJson) {
  World w = makeWorld(3);
  w.truth[0][0] = -1;
  const auto report = probeAttributes(w.features, w.pids, w.truth, w.visibility, {"colour"}, {});
  EXPECT_EQ(report.all.cells, kIdentities * kImages - 1);
  const Json j = parseJson(attributeProbeJson(report), "attribute_probe.json");
  EXPECT_EQ(j["identities"].get<int64_t>(), kIdentities);
  EXPECT_DOUBLE_EQ(j["visible"]["accuracy"].get<double>(), report.visible.accuracy);
  EXPECT_DOUBLE_EQ(j["groups"]["colour"]["hidden"]["majority"].get<double>(),
                   report.groups[0].hidden.majority);
  const auto lines = describeAttributeProbe(report);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("hidden"), std::string::npos) << lines[0];
}

}  // namespace
}  // namespace agreid::trainer
