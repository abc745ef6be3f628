// Run folders that cannot lie, through the commands: a folder records its configuration, a
// command whose configuration differs in a key that affects the result is refused with one line
// naming the keys, a key that does not (run.log_every) passes, and --restart starts over.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/e2e/tiny_world.h"

namespace agreid::testing {
namespace {

namespace fs = std::filesystem;

class RunFolder : public TinyWorld {
 protected:
  std::vector<std::string> args(const std::string& command, const std::vector<std::string>& sets,
                                const std::vector<std::string>& extra = {}) {
    std::vector<std::string> a = {command, "--config", config()};
    std::vector<std::string> all = {
        "run.out_dir=" + dir_.file("run"), "run.dataset=" + dir_.file("world/reid.h5"),
        "pretrain.data=" + dir_.file("world/pretrain.h5"), "model.vocab=" + vocab_,
        "model.weights=" + dir_.file("run/clip.pt")};
    all.insert(all.end(), sets.begin(), sets.end());
    for (const auto& s : all) {
      a.push_back("--set");
      a.push_back(s);
    }
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  static void expectOneLineError(const CommandResult& r, const std::string& expected) {
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_EQ(lineCount(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(expected), std::string::npos) << r.err;
  }
};

TEST_F(RunFolder, PretrainRefusesAnotherConfigurationUntilRestart) {
  auto r = runAgreid(args("pretrain", {}));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_TRUE(fs::exists(dir_.file("run/config.toml")));
  const std::string recorded = readFile(dir_.file("run/config.toml"));

  r = runAgreid(args("pretrain", {"pretrain.lr=0.001", "pretrain.steps=7"}));
  expectOneLineError(r, "error: " + dir_.file("run") +
                            ": the run folder was produced with another configuration (" +
                            dir_.file("run/config.toml") +
                            "): pretrain.steps (recorded 6, now 7), pretrain.lr (recorded 0.0005, "
                            "now 0.001); use a new run.out_dir, or --restart to start this folder "
                            "over");
  EXPECT_EQ(readFile(dir_.file("run/config.toml")), recorded);

  // A key that does not change the result passes.
  r = runAgreid(args("pretrain", {"run.log_every=2"}));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

  r = runAgreid(args("pretrain", {"pretrain.steps=7"}, {"--restart"}));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("--restart: removed " + dir_.file("run/checkpoints/pretrain")),
            std::string::npos)
      << r.out;
  EXPECT_NE(readFile(dir_.file("run/config.toml")).find("steps = 7"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir_.file("run/checkpoints/pretrain/checkpoint-7.pt")));
}

TEST_F(RunFolder, TrainAndRunRefuseAnotherRecordedConfiguration) {
  // The folder records stage2.lr = 0.001 (as `agreid config show` writes it).
  auto r = runAgreid(args("config", {"stage2.lr=0.001"}, {"show"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  fs::create_directories(dir_.file("run"));
  writeFile(dir_.file("run/config.toml"), r.out);
  for (const std::string command : {"train", "run"}) {
    expectOneLineError(runAgreid(args(command, {"stage2.lr=5e-05"})),
                       "the run folder was produced with another configuration (" +
                           dir_.file("run/config.toml") +
                           "): stage2.lr (recorded 0.001, now 5e-05)");
  }
}

TEST_F(RunFolder, ReportAveragesSeedsOnlyOverOtherwiseEqualConfigurations) {
  // Three finished runs: AG-ReID with seeds 1 and 2, CLIP-ReID with seed 1.
  const std::vector<std::pair<std::string, std::vector<std::string>>> runs = {
      {"ag-1", {"run.seed=1"}}, {"ag-2", {"run.seed=2"}}, {"clip", {"stage2.method=clip-reid"}}};
  const std::vector<std::string> maps = {"0.5", "0.7", "0.2"};
  for (size_t i = 0; i < runs.size(); ++i) {
    const std::string dir = dir_.file("runs/" + runs[i].first);
    auto sets = runs[i].second;
    sets.push_back("run.out_dir=" + dir);
    const auto r = runAgreid(args("config", sets, {"show"}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    fs::create_directories(dir);
    writeFile(dir + "/config.toml", r.out);
    writeFile(dir + "/results.json", "{\"mAP\": " + maps[i] + ", \"rank1\": 0.9}\n");
  }
  const auto r = runAgreid({"report", dir_.file("runs")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lineCount(r.out), 4) << r.out;
  EXPECT_NE(r.out.find("| runs/ag-1+ag-2 | 2 | – | – | – | – | 60.0 ± 14.1 | 90.0 ± 0.0 |"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("| runs/clip | 1 | – | – | – | – | 20.0 | 90.0 |"), std::string::npos)
      << r.out;
}

// The experiment arms' stage-1 choices: combinations that cannot work are one-line errors before
// any work, and oracle pseudo-labels run and show the token-block probe's diagonal.
TEST_F(RunFolder, PseudoLabelSourcesRefuseImpossibleCombinations) {
  ASSERT_EQ(runAgreid(args("pretrain", {})).exit_code, 0);
  int n = 0;
  auto in_fresh_folder = [&](std::vector<std::string> sets) {
    sets.push_back("run.out_dir=" + dir_.file("pl" + std::to_string(n++)));
    return runAgreid(args("pseudo-label", sets));
  };
  expectOneLineError(in_fresh_folder({"stage1.pseudo_labels=oracle", "stage2.method=clip-reid"}),
                     "stage1.pseudo_labels = \"oracle\" needs the attribute prompt");
  expectOneLineError(in_fresh_folder({"stage1.pseudo_labels=oracle", "stage1.joint=true"}),
                     "stage1.joint must be false");
  expectOneLineError(in_fresh_folder({"stage1.pseudo_labels=permuted", "stage1.lambda_attr=0"}),
                     "stage1.lambda_attr must be > 0");
  expectOneLineError(
      in_fresh_folder({"stage1.pseudo_labels=oracle", "stage1.token_attributes=[\"gender\"]"}),
      "stage1.token_attributes has 1 entries, but the template has 16 placeholders");
  expectOneLineError(
      in_fresh_folder({"stage1.pseudo_labels=oracle",
                       "stage1.token_attributes=[\"gender\", \"shoe_size\", \"\", \"\", \"\", "
                       "\"\", \"\", \"\", \"\", \"\", \"\", \"\", \"\", \"\", \"\", \"\"]"}),
      "'shoe_size' is not an attribute stored in the dataset");
  expectOneLineError(runAgreid(args("config", {"stage2.mask=p60"}, {"show"})), "stage2.mask");
  const auto r = in_fresh_folder({"stage1.pseudo_labels=oracle"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("oracle pseudo-labels"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("token-block probe"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("own block best for"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace agreid::testing
