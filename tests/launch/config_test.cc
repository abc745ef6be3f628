#include <ATen/Context.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "base/error.h"
#include "launch/config.h"
#include "launch/job.h"
#include "tests/support/test_support.h"

namespace agreid::launch {
namespace {

using agreid::testing::TempDir;
using agreid::testing::writeFile;

std::string loadError(const std::string& toml, std::vector<std::string> sets = {}) {
  TempDir dir;
  const std::string path = dir.file("c.toml");
  writeFile(path, toml);
  try {
    loadConfig({path, sets});
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, Tf32SetsTheCudaMathModeAndLeavesTheCpuAlone) {
  Config config;
  const bool before = at::globalContext().allowTF32CuBLAS();
  config.run.tf32 = !before;
  applyMathMode(config, c10::Device(c10::kCPU));
  EXPECT_EQ(at::globalContext().allowTF32CuBLAS(), before);
  for (const bool tf32 : {false, true}) {
    config.run.tf32 = tf32;
    applyMathMode(config, c10::Device(c10::kCUDA, 0));  // sets LibTorch's flags, needs no GPU
    EXPECT_EQ(at::globalContext().allowTF32CuBLAS(), tf32);
    EXPECT_EQ(at::globalContext().allowTF32CuDNN(), tf32);
  }
}

TEST(Config, BaseFileIsAppliedFirstAndOverridden) {
  agreid::testing::TempDir dir;
  agreid::testing::writeFile(dir.file("base.toml"), "[stage2]\nlr = 1e-4\nepochs = 7\n");
  std::filesystem::create_directories(dir.file("sub"));
  agreid::testing::writeFile(dir.file("sub/child.toml"),
                             "base = \"../base.toml\"\n[stage2]\nepochs = 9\n");
  ConfigSources sources;
  sources.file = dir.file("sub/child.toml");
  sources.sets = {"stage2.lr=2e-4"};
  Config c = loadConfig(sources);
  EXPECT_EQ(c.stage2.epochs, 9);
  EXPECT_DOUBLE_EQ(c.stage2.lr, 2e-4);
  sources.sets.clear();
  EXPECT_DOUBLE_EQ(loadConfig(sources).stage2.lr, 1e-4);

  agreid::testing::writeFile(dir.file("loop.toml"), "base = \"loop.toml\"\n");
  sources.file = dir.file("loop.toml");
  EXPECT_EQ(agreid::testing::inputErrorOf([&] { loadConfig(sources); }),
            dir.file("loop.toml") + ":1: base 'loop.toml' includes itself (" +
                dir.file("loop.toml") + ")");
  agreid::testing::writeFile(dir.file("missing.toml"), "base = \"nope.toml\"\n");
  sources.file = dir.file("missing.toml");
  EXPECT_EQ(
      agreid::testing::inputErrorOf([&] { loadConfig(sources); }),
      dir.file("missing.toml") + ":1: base config file " + dir.file("nope.toml") + " not found");
}

TEST(Config, DefaultsMatchMethodHyperParameters) {
  Config c = loadConfig({});
  EXPECT_DOUBLE_EQ(c.stage2.lr, 5e-6);
  EXPECT_DOUBLE_EQ(c.stage2.beta, 0.01);
  EXPECT_DOUBLE_EQ(c.stage1.lr, 3.5e-4);
  EXPECT_EQ(c.stage2.milestones, (std::vector<int64_t>{30, 50}));
}

TEST(Config, FileThenSetOverrides) {
  Config c = [] {
    TempDir dir;
    writeFile(dir.file("c.toml"), "[stage2]\nlr = 1e-5\nepochs = 3\n[run]\nout_dir = \"x\"\n");
    return loadConfig({dir.file("c.toml"), {"stage2.epochs=7", "run.out_dir=/tmp/y"}});
  }();
  EXPECT_DOUBLE_EQ(c.stage2.lr, 1e-5);
  EXPECT_EQ(c.stage2.epochs, 7);
  EXPECT_EQ(c.run.out_dir, "/tmp/y");
}

TEST(Config, IntegerAcceptedForFloat) {
  Config c = loadConfig({"", {"stage2.beta=1"}});
  EXPECT_DOUBLE_EQ(c.stage2.beta, 1.0);
}

TEST(Config, UnknownKeyNamesFileLineAndSuggestion) {
  const std::string e = loadError("[stage2]\nlr = 1e-5\nmargn = 0.3\n");
  EXPECT_NE(e.find("c.toml:3"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'stage2.margn'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'stage2.margin'"), std::string::npos) << e;
}

TEST(Config, UnknownSection) {
  const std::string e = loadError("[stage3]\nlr = 1\n");
  EXPECT_NE(e.find("unknown key 'stage3.lr'"), std::string::npos) << e;
}

TEST(Config, WrongType) {
  const std::string e = loadError("[stage2]\nepochs = \"ten\"\n");
  EXPECT_NE(e.find("c.toml:2"), std::string::npos) << e;
  EXPECT_NE(e.find("'stage2.epochs' expects an integer, got a string"), std::string::npos) << e;
}

TEST(Config, OutOfRange) {
  const std::string e = loadError("[stage2]\nlabel_smoothing = 1.5\n");
  EXPECT_NE(e.find("'stage2.label_smoothing' = 1.5 is out of range [0.0, 1.0]"), std::string::npos)
      << e;
}

TEST(Config, BadChoice) {
  const std::string e = loadError("[stage2]\nmethod = \"transreid\"\n");
  EXPECT_NE(
      e.find("c.toml:2: key 'stage2.method' = \"transreid\" is not one of: ag-reid, clip-reid"),
      std::string::npos)
      << e;
  const std::string s = loadError("", {"run.device=gpu"});
  EXPECT_NE(
      s.find("--set run.device=gpu: key 'run.device' = \"gpu\" is not one of: auto, cpu, cuda"),
      std::string::npos)
      << s;
  EXPECT_NE(
      loadError("[stage2]\nmask = 1\n").find("'stage2.mask' expects a string, got an integer"),
      std::string::npos);
}

// Choice keys arrive as enums, parsed once here; they print back as their spellings.
TEST(Config, ChoiceKeysAreEnums) {
  TempDir dir;
  writeFile(dir.file("c.toml"), "[stage2]\nmethod = \"clip-reid\"\nmask = \"none\"\n");
  Config c = loadConfig({dir.file("c.toml"), {"run.device=cpu", "run.progress=\"lines\""}});
  EXPECT_EQ(c.stage2.method, trainer::ReidMethod::kClipReid);
  EXPECT_EQ(c.stage2.mask, trainer::GuidanceMask::kNone);
  EXPECT_EQ(c.run.device, trainer::DeviceChoice::kCpu);
  EXPECT_EQ(c.run.progress, trainer::ProgressSetting::kLines);
  const std::string toml = configToToml(c);
  for (const char* line :
       {"method = 'clip-reid'", "mask = 'none'", "device = 'cpu'", "progress = 'lines'"}) {
    EXPECT_NE(toml.find(line), std::string::npos) << line << " not in:\n" << toml;
  }
  const Config back = configFromToml(toml, "recorded");
  EXPECT_EQ(back.stage2.method, trainer::ReidMethod::kClipReid);
  EXPECT_EQ(back.run.progress, trainer::ProgressSetting::kLines);
  EXPECT_EQ(Config().stage2.method, trainer::ReidMethod::kAgReid);
}

// The one statement of "stage 2 trains with attribute guidance".
TEST(Config, AttributeGuidanceIsAgReidWithPositiveBeta) {
  trainer::Stage2Options o;
  EXPECT_TRUE(o.attributeGuidance());
  o.beta = 0;
  EXPECT_FALSE(o.attributeGuidance());
  o.beta = 0.01;
  o.method = trainer::ReidMethod::kClipReid;
  EXPECT_FALSE(o.attributeGuidance());
}

TEST(Config, UnparsableTomlGivesLineAndColumn) {
  const std::string e = loadError("[stage2]\nlr = = 3\n");
  EXPECT_TRUE(std::regex_search(e, std::regex("c\\.toml:2:[0-9]+: invalid TOML"))) << e;
}

TEST(Config, MissingFile) {
  try {
    loadConfig({"/nonexistent/agreid.toml", {}});
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/agreid.toml: config file not found"),
              std::string::npos);
  }
}

TEST(Config, BadSetSyntax) {
  for (const char* bad : {"stage2.lr", "lr=3", "=3", "stage2.lr=", "stage2.lr=abc"}) {
    try {
      loadConfig({"", {bad}});
      FAIL() << bad;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("--set"), std::string::npos) << e.what();
    }
  }
}

TEST(Config, ShowRoundTrips) {
  Config c = loadConfig({"", {"stage2.lr=2e-5", "stage1.template=\"a X person.\""}});
  TempDir dir;
  writeFile(dir.file("shown.toml"), configToToml(c));
  Config back = loadConfig({dir.file("shown.toml"), {}});
  EXPECT_EQ(configToToml(back), configToToml(c));
  EXPECT_DOUBLE_EQ(back.stage2.lr, 2e-5);
  EXPECT_EQ(back.stage1.template_text, "a X person.");
}

TEST(Config, EveryKeyDocumented) {
  const std::string doc =
      agreid::testing::readFile(std::string(AGREID_SOURCE_DIR) + "/docs/configuration.md");
  ASSERT_FALSE(doc.empty()) << "docs/configuration.md missing";
  // Integer keys show integer bounds, unbounded ones "inf".
  EXPECT_NE(doc.find("| `run.threads` | integer | `0` | [0, 1024] |"), std::string::npos);
  EXPECT_NE(doc.find("| `run.log_every` | integer | `10` | [1, inf] |"), std::string::npos);
  Config c;
  std::set<std::string> seen;
  for (const auto& k : configKeys(c)) {
    EXPECT_TRUE(seen.insert(k.key).second) << "duplicate key " << k.key;
    EXPECT_FALSE(k.description.empty()) << k.key;
    EXPECT_NE(doc.find("`" + k.key + "`"), std::string::npos)
        << k.key << " is not in docs/configuration.md (regenerate with agreid config reference)";
  }
}

}  // namespace
}  // namespace agreid::launch

namespace agreid::launch {
namespace {

TEST(Config, ShippedConfigsResolve) {
  int count = 0;
  for (const auto& e :
       std::filesystem::directory_iterator(std::string(AGREID_SOURCE_DIR) + "/configs")) {
    if (e.path().extension() != ".toml") continue;
    EXPECT_NO_THROW(loadConfig({e.path().string(), {}})) << e.path();
    ++count;
  }
  EXPECT_GE(count, 6);  // demo + five public datasets
}

}  // namespace
}  // namespace agreid::launch
