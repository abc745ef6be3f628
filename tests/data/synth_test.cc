// The synthetic world: determinism (same seed -> byte-identical files), split statistics
// (occluded queries, every query has a gallery match in another camera), occluder coverage,
// attributes/captions/prompts, and the `agreid synth` command's errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "base/error.h"
#include "data/dataset.h"
#include "data/synth_generator.h"
#include "data/synth_render.h"
#include "data/synth_world.h"
#include "tests/support/test_support.h"

namespace agreid::data {
namespace {

SynthOptions smallWorld() {
  SynthOptions o;
  o.identities = 24;
  o.images_per_identity = 10;
  o.pretrain_identities = 30;
  o.pretrain_images = 90;
  return o;
}

TEST(SynthTest, SameSeedGivesByteIdenticalFiles) {
  testing::TempDir dir;
  const SynthOptions o = smallWorld();
  generateSynthWorld(o, dir.file("a"), {2});
  generateSynthWorld(o, dir.file("b"), {1});  // thread count must not matter
  for (const char* f : {"reid.h5", "pretrain.h5"}) {
    const std::string a = testing::readFile(dir.file(std::string("a/") + f));
    const std::string b = testing::readFile(dir.file(std::string("b/") + f));
    ASSERT_FALSE(a.empty());
    EXPECT_TRUE(a == b) << f << " differs between two runs with the same seed";
  }
  SynthOptions other = o;
  other.seed = o.seed + 1;
  generateSynthWorld(other, dir.file("c"), {});
  EXPECT_NE(DatasetReader(dir.file("a/reid.h5")).info().checksum,
            DatasetReader(dir.file("c/reid.h5")).info().checksum);
}

// The world depends only on the settings, not on the compiler: the content checksum of the small
// world recorded from the gcc build must come out of the clang build too (the sanitizer stage).
// Random draws passed as several arguments of one call made the clang world differ.
// (The pin changed once, when reid.h5 gained /attributes/visibility, which the checksum covers;
// the images and labels did not change: SynthVisibilityTest.DefaultWorldKeepsItsImagesAndLabels.)
TEST(SynthTest, SameWorldFromEveryCompiler) {
  testing::TempDir dir;
  generateSynthWorld(smallWorld(), dir.file("a"), {});
  EXPECT_EQ(DatasetReader(dir.file("a/reid.h5")).info().checksum, "fnv1a64:6afe755d33f85864");
}

TEST(SynthTest, SplitsFollowTheOccludedDukeProtocol) {
  testing::TempDir dir;
  SynthOptions o = smallWorld();
  o.identities = 40;
  o.images_per_identity = 12;
  const SynthSummary s = generateSynthWorld(o, dir.path().string(), {});
  DatasetReader reader(s.reid_path);
  const SampleTable& t = reader.samples();
  ASSERT_EQ(reader.size(), 40 * 12);
  std::map<int32_t, std::vector<size_t>> gallery_of;
  std::set<int32_t> train_pids, test_pids;
  std::set<int32_t> labels;
  int64_t queries = 0, occluded_queries = 0, gallery = 0, occluded_gallery = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    const auto split = static_cast<Split>(t.split[i]);
    if (split == Split::kTrain) {
      train_pids.insert(t.pid[i]);
      labels.insert(t.label[i]);
    } else {
      test_pids.insert(t.pid[i]);
      EXPECT_EQ(t.label[i], -1);
    }
    if (split == Split::kGallery) {
      gallery_of[t.pid[i]].push_back(i);
      ++gallery;
      occluded_gallery += t.occluded[i];
    }
  }
  EXPECT_EQ(train_pids.size(), 20u);
  EXPECT_EQ(test_pids.size(), 20u);
  for (int32_t p : train_pids) EXPECT_EQ(test_pids.count(p), 0u);
  EXPECT_EQ(*labels.begin(), 0);
  EXPECT_EQ(*labels.rbegin(), 19);
  EXPECT_EQ(labels.size(), 20u);
  for (size_t i = 0; i < t.size(); ++i) {
    if (static_cast<Split>(t.split[i]) != Split::kQuery) continue;
    ++queries;
    occluded_queries += t.occluded[i];
    bool match = false;
    for (size_t g : gallery_of[t.pid[i]]) match |= t.camid[g] != t.camid[i];
    EXPECT_TRUE(match) << "query " << i << " has no gallery image in another camera";
  }
  EXPECT_EQ(queries, 20 * 2);            // round(12 * 0.2) per test identity
  EXPECT_EQ(occluded_queries, queries);  // occluded_query_fraction = 1
  EXPECT_LT(static_cast<double>(occluded_gallery) / gallery, 0.25);  // mostly holistic

  // Ground truth and captions are stored; pretraining identities are other people.
  EXPECT_EQ(reader.info().attribute_names, synthAttributeNames());
  ASSERT_EQ(reader.attributes().size(), t.size() * kNumSynthAttributes);
  const int32_t upper = reader.attributes()[kAttrUpperColour];
  EXPECT_NE(reader.caption(0).find(synthAttributeValues()[kAttrUpperColour][upper]),
            std::string::npos)
      << reader.caption(0);
  DatasetReader pretrain(s.pretrain_path);
  EXPECT_EQ(pretrain.size(), o.pretrain_images);
  EXPECT_TRUE(pretrain.info().has_captions);
  for (size_t i = 0; i < pretrain.samples().size(); ++i) {
    // "an orange skirt", never "a orange skirt".
    const std::string c = " " + pretrain.caption(static_cast<int64_t>(i));
    for (const char* wrong : {" a a", " a e", " a i", " a o", " a u", " an b", " an r"}) {
      EXPECT_EQ(c.find(wrong), std::string::npos) << c;
    }
    EXPECT_GT(pretrain.samples().pid[i], o.identities);
    EXPECT_EQ(pretrain.samples().split[i], static_cast<uint8_t>(Split::kTrain));
  }
}

TEST(SynthTest, OccludersHideTwentyToFiftyPercent) {
  CounterRng cam_rng(1);
  const CameraStyle camera = sampleCamera(cam_rng);
  int within = 0;
  const int n = 200;
  for (int i = 0; i < n; ++i) {
    CounterRng rng(2, 0, i);
    const Person person = samplePerson(rng);
    RenderSpec spec;
    spec.occluded = true;
    const RenderedImage r = renderPedestrian(person, camera, spec, rng);
    EXPECT_NE(r.occluder, OccluderKind::kNone);
    EXPECT_EQ(r.image.height, 64);
    EXPECT_EQ(r.image.width, 32);
    within +=
        r.occluded_fraction >= kMinOccludedFraction && r.occluded_fraction <= kMaxOccludedFraction;
    spec.occluded = false;
    const RenderedImage h = renderPedestrian(person, camera, spec, rng);
    EXPECT_EQ(h.occluded_fraction, 0.0);
    EXPECT_EQ(h.occluder, OccluderKind::kNone);
  }
  EXPECT_GE(within, n * 95 / 100);
}

TEST(SynthTest, ReadoutPromptsCoverEveryValue) {
  const auto prompts = readoutPrompts();
  ASSERT_EQ(prompts.size(), static_cast<size_t>(kNumSynthAttributes));
  for (int a = 0; a < kNumSynthAttributes; ++a) {
    ASSERT_EQ(prompts[a].size(), synthAttributeValues()[a].size());
    std::set<std::string> distinct(prompts[a].begin(), prompts[a].end());
    EXPECT_EQ(distinct.size(), prompts[a].size()) << synthAttributeNames()[a];
  }
  EXPECT_EQ(readoutPrompt(kAttrUpperColour, 3), "a photo of a person wearing a red top");
  EXPECT_EQ(readoutPrompt(kAttrUpperColour, 9), "a photo of a person wearing an orange top");
}

TEST(SynthTest, ReadoutPromptsKeepTheirPhrasing) {
  EXPECT_EQ(readoutPrompt(kAttrGender, 1), "a photo of a woman");
  EXPECT_EQ(readoutPrompt(kAttrHat, 0), "a photo of a person without a hat");
  EXPECT_EQ(readoutPrompt(kAttrLowerColour, 4), "a photo of a person wearing blue bottoms");
  EXPECT_EQ(readoutPrompt(kAttrLowerType, 2), "a photo of a person wearing a skirt");
  EXPECT_EQ(readoutPrompt(kAttrBagColour, 3), "a photo of a person carrying a red bag");
  EXPECT_EQ(readoutPrompt(kAttrBagType, 0), "a photo of a person carrying no bag");
}

TEST(SynthTest, ShortCaptionsNameOneToThreeTrueAttributes) {
  // Every clause of a short caption is the readout clause of one of the person's own values, so
  // a single-attribute readout prompt is phrased like some training captions.
  std::set<size_t> counts;
  for (uint64_t i = 0; i < 300; ++i) {
    CounterRng rng(5, 0, i);
    const Person person = samplePerson(rng);
    const std::string c = shortCaption(person, rng);
    ASSERT_EQ(c.rfind("a photo of a ", 0), 0u) << c;
    std::set<std::string> own;
    for (int a = 1; a < kNumSynthAttributes; ++a)
      own.insert(attributeClause(a, person.attributes[a]));
    size_t named = 0;
    for (int a = 1; a < kNumSynthAttributes; ++a)
      for (int v = 0; v < static_cast<int>(synthAttributeValues()[a].size()); ++v) {
        const std::string clause = attributeClause(a, v);
        // A clause that is a prefix of another ("wearing a red top" vs "... red bag") would match
        // twice; the value names make every clause end a word.
        const size_t at = c.find(" " + clause);
        if (at == std::string::npos) continue;
        const size_t end = at + 1 + clause.size();
        if (end != c.size() && c[end] != ',' && c[end] != ' ') continue;
        EXPECT_TRUE(own.count(clause)) << "'" << c << "' names '" << clause << "'";
        if (v == person.attributes[a]) ++named;
      }
    const bool gendered = c.rfind("a photo of a person", 0) != 0;
    if (gendered)
      EXPECT_EQ(c.rfind(readoutPrompt(kAttrGender, person.attributes[kAttrGender]), 0), 0u) << c;
    counts.insert(named + gendered);
  }
  EXPECT_GE(*counts.begin(), 1u);
  EXPECT_GE(*counts.rbegin(), 3u);  // may exceed 3 where two attributes share a clause
}

TEST(SynthTest, OneAttributeShortCaptionsAreReadoutPrompts) {
  // With synth.short_caption_attributes = 1 every short caption is the readout prompt of one of
  // the person's own values, so images that share a value share the caption.
  std::set<std::string> prompts;
  for (int a = 0; a < kNumSynthAttributes; ++a)
    for (int v = 0; v < static_cast<int>(synthAttributeValues()[a].size()); ++v)
      prompts.insert(readoutPrompt(a, v));
  std::set<std::string> seen;
  for (uint64_t i = 0; i < 300; ++i) {
    CounterRng rng(5, 0, i);
    const Person person = samplePerson(rng);
    const std::string c = shortCaption(person, rng, 1);
    EXPECT_TRUE(prompts.count(c)) << c;
    bool own = false;
    for (int a = 0; a < kNumSynthAttributes; ++a)
      own |= c == readoutPrompt(a, person.attributes[a]);
    EXPECT_TRUE(own) << c;
    seen.insert(c);
  }
  EXPECT_GT(seen.size(), 20u);
  CounterRng rng(5, 0, 0);
  const Person person = samplePerson(rng);
  EXPECT_THROW(shortCaption(person, rng, 0), std::exception);
  EXPECT_THROW(shortCaption(person, rng, kNumSynthAttributes + 1), std::exception);
}

TEST(SynthTest, ShortCaptionsAreOffByDefaultAndChangeNoImage) {
  SynthOptions o = smallWorld();
  const auto plain = renderReidSamples(o, {});
  o.short_captions = 1.0;
  const auto short_ = renderReidSamples(o, {});
  ASSERT_EQ(plain.size(), short_.size());
  for (size_t i = 0; i < plain.size(); ++i) {
    EXPECT_EQ(plain[i].jpeg, short_[i].jpeg) << i;
    EXPECT_EQ(short_[i].caption.rfind("a photo of a ", 0), 0u) << short_[i].caption;
    EXPECT_EQ(short_[i].caption.find("hidden"), std::string::npos) << short_[i].caption;
  }
}

TEST(SynthTest, AttributesNarrowButDoNotSettleIdentity) {
  // Some identities share all attributes (look-alikes told apart only by details).
  const auto records = renderReidSamples(smallWorld(), {});
  std::map<std::vector<int32_t>, std::set<int32_t>> pids_of;
  for (const auto& r : records) pids_of[r.attributes].insert(r.pid);
  size_t shared = 0;
  for (const auto& [attrs, pids] : pids_of) shared += pids.size() > 1;
  EXPECT_GE(shared, 1u);
  EXPECT_GT(pids_of.size(), 12u);
}

TEST(SynthCommandTest, WritesTheWorldAndAPreview) {
  testing::TempDir dir;
  const auto r =
      testing::runAgreid({"synth", "--out", dir.file("w"), "--set", "synth.identities=8", "--set",
                          "synth.pretrain_images=20", "--set", "synth.pretrain_identities=5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir.file("w/reid.h5")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("w/pretrain.h5")));
  const auto p = testing::runAgreid({"synth", "--preview", dir.file("grid.jpg"), "--columns", "3"});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(testing::lineCount(p.out), 6);
  EXPECT_GT(std::filesystem::file_size(dir.file("grid.jpg")), 1000u);
}

TEST(SynthCommandTest, BadInputFailsWithOneLineAndNoOutput) {
  testing::TempDir dir;
  testing::writeFile(dir.file("file"), "x");
  struct Case {
    std::vector<std::string> args;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{"synth"}, "--out DIR or --preview"},
      {{"synth", "--out", dir.file("file")}, dir.file("file")},
      {{"synth", "--out", dir.file("o1"), "--set", "synth.images_per_identity=1"},
       "synth.images_per_identity"},
      {{"synth", "--preview", dir.file("p.jpg"), "--columns", "zero"}, "--columns"},
  };
  for (const auto& c : cases) {
    const auto r = testing::runAgreid(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args.back() << ": " << r.err;
    EXPECT_EQ(testing::lineCount(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(c.expected), std::string::npos) << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("o1/reid.h5")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("p.jpg")));
}

}  // namespace
}  // namespace agreid::data
