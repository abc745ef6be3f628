// The synthetic world's look-alikes (synth.lookalike_fraction), region occluders
// (synth.region_occluders) and per-image visibility of each attribute's body region, and that the
// default world keeps its images and labels.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "data/dataset.h"
#include "data/synth_generator.h"
#include "data/synth_render.h"
#include "data/synth_world.h"
#include "tests/support/test_support.h"

namespace agreid::data {
namespace {

// Small and fast: tiny images, few pretraining images.
SynthOptions tinyWorld(int64_t identities) {
  SynthOptions o;
  o.identities = identities;
  o.images_per_identity = 2;
  o.cameras = 2;
  o.height = 32;
  o.width = 16;
  o.pretrain_identities = 4;
  o.pretrain_images = 8;
  return o;
}

// Identities whose attributes equal those of an earlier identity of the same half (train / test).
int64_t countSharedAttributeIdentities(const DatasetReader& reader, int64_t identities) {
  const auto& attrs = reader.attributes();
  const size_t num_attr = reader.info().attribute_names.size();
  std::map<int32_t, std::vector<int32_t>> of_pid;
  for (size_t i = 0; i < reader.samples().size(); ++i) {
    const std::vector<int32_t> row(attrs.begin() + i * num_attr,
                                   attrs.begin() + (i + 1) * num_attr);
    const int32_t pid = reader.samples().pid[i];
    if (of_pid.count(pid)) {
      EXPECT_EQ(of_pid[pid], row) << "pid " << pid << " changes attributes between images";
    }
    of_pid[pid] = row;
  }
  std::set<std::vector<int32_t>> seen[2];
  int64_t shared = 0;
  for (const auto& [pid, row] : of_pid) {  // pids 1..N in identity order
    const int half = pid - 1 < identities / 2 ? 0 : 1;
    shared += !seen[half].insert(row).second;
  }
  return shared;
}

TEST(SynthVisibilityTest, LookalikesShareEveryAttributeAtTheRequestedRate) {
  testing::TempDir dir;
  const int64_t n = 400;
  for (double fraction : {0.0, 0.5}) {
    SynthOptions o = tinyWorld(n);
    o.lookalike_fraction = fraction;
    const std::string out = dir.file(fraction > 0 ? "half" : "none");
    const SynthSummary s = generateSynthWorld(o, out, {});
    const int64_t shared = countSharedAttributeIdentities(DatasetReader(s.reid_path), n);
    // Every look-alike shares all attributes with an earlier identity; other identities do so
    // only by chance (rare: millions of attribute combinations).
    EXPECT_GE(shared, s.lookalike_identities);
    EXPECT_LE(shared, s.lookalike_identities + 3);
    if (fraction == 0) {
      EXPECT_EQ(s.lookalike_identities, 0);
    } else {
      const double rate = static_cast<double>(s.lookalike_identities) / n;
      EXPECT_GT(rate, 0.4) << s.lookalike_identities;  // 0.5 +- 4 standard deviations
      EXPECT_LT(rate, 0.6) << s.lookalike_identities;
    }
  }
}

// A person (with a bag when `bag`) rendered with a region occluder in front of `region`, and
// optionally one of the other occluders.
RenderedImage renderWithRegion(int i, BodyRegion region, bool other_occluder, bool bag) {
  CounterRng cam_rng(1);
  const CameraStyle camera = sampleCamera(cam_rng);
  CounterRng rng(5, 0, i);
  Person person = samplePerson(rng);
  if (bag && person.attributes[kAttrBagType] == 0) {
    person.attributes[kAttrBagType] = 1 + i % 3;
    person.attributes[kAttrBagColour] = 1 + i % 6;
  }
  RenderSpec spec;
  spec.occluded = other_occluder;
  spec.region_occluder = region;
  spec.region_rng = CounterRng(6, 0, i);
  return renderPedestrian(person, camera, spec, rng);
}

// The attribute whose visibility is that of each region.
int attributeOf(BodyRegion region) {
  switch (region) {
    case BodyRegion::kHead:
      return kAttrHairColour;
    case BodyRegion::kUpperBody:
      return kAttrUpperColour;
    case BodyRegion::kLowerBody:
      return kAttrLowerColour;
    case BodyRegion::kFeet:
      return kAttrShoesColour;
    default:
      return kAttrBagColour;
  }
}

TEST(SynthVisibilityTest, RegionOccludersHideTheirRegionAndSpareDistantOnes) {
  const BodyRegion regions[] = {BodyRegion::kHead, BodyRegion::kUpperBody, BodyRegion::kLowerBody,
                                BodyRegion::kFeet, BodyRegion::kBag};
  const int n = 100;
  for (BodyRegion target : regions) {
    double mean[5] = {0, 0, 0, 0, 0};
    for (int i = 0; i < n; ++i) {
      const RenderedImage r = renderWithRegion(i, target, false, true);
      EXPECT_EQ(r.region_occluder, target);
      EXPECT_EQ(r.occluder, OccluderKind::kPanel);
      for (int k = 0; k < 5; ++k) mean[k] += r.visibility[attributeOf(regions[k])] / n;
    }
    for (int k = 0; k < 5; ++k) {
      SCOPED_TRACE(std::string(bodyRegionName(target)) + " occluder, " +
                   bodyRegionName(regions[k]) + " visibility " + std::to_string(mean[k]));
      // Bags are carried on the upper body: a panel in front of one hides much of the other.
      const bool bag_and_upper =
          (target == BodyRegion::kBag && regions[k] == BodyRegion::kUpperBody) ||
          (target == BodyRegion::kUpperBody && regions[k] == BodyRegion::kBag);
      if (regions[k] == target) {
        EXPECT_LT(mean[k], 0.3);
      } else if (!bag_and_upper) {
        EXPECT_GT(mean[k], 0.85);
      }
    }
  }
}

TEST(SynthVisibilityTest, VisibilityIsOneWhenHolisticAndAFractionWhenOccluded) {
  for (int i = 0; i < 60; ++i) {
    const RenderedImage holistic = renderWithRegion(i, BodyRegion::kNone, false, false);
    EXPECT_EQ(holistic.occluder, OccluderKind::kNone);
    for (float v : holistic.visibility) EXPECT_EQ(v, 1.f);
    // The region occluder draws from its own stream: the other occluder is the same with it.
    const RenderedImage other = renderWithRegion(i, BodyRegion::kNone, true, false);
    const RenderedImage both = renderWithRegion(i, BodyRegion::kLowerBody, true, false);
    EXPECT_EQ(both.occluder, other.occluder);
    EXPECT_NEAR(other.visibility[kAttrGender], 1.0 - other.occluded_fraction, 1e-6);
    for (int a = 0; a < kNumSynthAttributes; ++a) {
      EXPECT_GE(other.visibility[a], 0.f);
      EXPECT_LE(both.visibility[a], other.visibility[a]) << synthAttributeNames()[a];
    }
    EXPECT_LT(both.visibility[kAttrLowerColour], 1.f);
  }
}

TEST(SynthVisibilityTest, TheFileStoresVisibilityForEveryImage) {
  testing::TempDir dir;
  SynthOptions o = tinyWorld(40);
  o.region_occluders = 0.3;
  const SynthSummary s = generateSynthWorld(o, dir.path().string(), {});
  DatasetReader reader(s.reid_path);
  ASSERT_TRUE(reader.info().has_visibility);
  const auto& vis = reader.visibility();
  ASSERT_EQ(vis.size(), reader.samples().size() * kNumSynthAttributes);
  int64_t occluded = 0;
  for (size_t i = 0; i < reader.samples().size(); ++i) {
    const auto row = vis.begin() + i * kNumSynthAttributes;
    const float lowest = *std::min_element(row, row + kNumSynthAttributes);
    EXPECT_GE(lowest, 0.f);
    if (reader.samples().occluded[i]) {
      ++occluded;
      EXPECT_LT(lowest, 1.f) << "occluded image " << i << " has everything visible";
    } else {
      EXPECT_EQ(lowest, 1.f) << "holistic image " << i;
    }
  }
  EXPECT_GT(occluded, 0);
  EXPECT_TRUE(DatasetReader(s.pretrain_path).info().has_visibility);
}

// The default settings draw no new random numbers: the images and labels of a default world are
// those of the worlds made before look-alike and region-occluder settings and visibility
// existed. Their content checksum (without visibility) was fnv1a64:92ea468a8679394e.
TEST(SynthVisibilityTest, DefaultWorldKeepsItsImagesAndLabels) {
  SynthOptions o;
  o.identities = 24;
  o.images_per_identity = 10;
  o.pretrain_identities = 30;
  o.pretrain_images = 90;
  testing::TempDir dir;
  DatasetWriter writer(dir.file("stripped.h5"), synthWriterOptions("synthetic-reid", o));
  for (SampleRecord r : renderReidSamples(o, {})) {
    EXPECT_EQ(r.visibility.size(), static_cast<size_t>(kNumSynthAttributes));
    r.visibility.clear();
    writer.add(r);
  }
  EXPECT_EQ(writer.finish().checksum, "fnv1a64:92ea468a8679394e");
}

TEST(SynthVisibilityTest, SynthCommandReportsLookalikesAndPreviewsRegionOccluders) {
  testing::TempDir dir;
  const auto r = testing::runAgreid(
      {"synth", "--out", dir.file("w"), "--set", "synth.identities=8", "--set",
       "synth.pretrain_images=20", "--set", "synth.pretrain_identities=5", "--set",
       "synth.lookalike_fraction=0", "--set", "synth.region_occluders=1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE((r.out + r.err).find(" 0 look-alike identities"), std::string::npos) << r.out << r.err;
  const auto inspect = testing::runAgreid({"inspect", dir.file("w/reid.h5")});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_NE(inspect.out.find("visibility:"), std::string::npos) << inspect.out;
  EXPECT_NE(inspect.out.find("shoes_colour"), std::string::npos) << inspect.out;
  EXPECT_NE(inspect.out.find("/    -"), std::string::npos)
      << "every image occluded: " << inspect.out;
  // The preview's holistic row has no panels: with every image behind one there is none to show.
  const auto preview = testing::runAgreid(
      {"synth", "--preview", dir.file("p.jpg"), "--set", "synth.region_occluders=1"});
  EXPECT_EQ(preview.exit_code, 2);
  EXPECT_NE(preview.err.find("synth.region_occluders"), std::string::npos) << preview.err;
  const auto half = testing::runAgreid({"synth", "--preview", dir.file("q.jpg"), "--columns", "2",
                                        "--set", "synth.region_occluders=0.5"});
  EXPECT_EQ(half.exit_code, 0) << half.err;
}

}  // namespace
}  // namespace agreid::data
