// agreid sweep: spec parsing and validation, point expansion, the sweep folder, submission
// arguments (through a recording stand-in for sbatch; the real SLURM path is tests/slurm), and
// collect.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "base/error.h"
#include "launch/sweep.h"
#include "launch/sweep_results.h"
#include "launch/sweep_spec.h"
#include "tests/support/test_support.h"

namespace agreid::launch {
namespace {

namespace fs = std::filesystem;
using agreid::testing::readFile;
using agreid::testing::runAgreid;
using agreid::testing::TempDir;
using agreid::testing::writeFile;

std::string writeSpec(const TempDir& dir, const std::string& text, const std::string& name = "s") {
  const std::string path = dir.file(name + ".toml");
  writeFile(path, text);
  return path;
}

TEST(SweepSpec, GridIsCartesianProductLastKeyFastest) {
  TempDir dir;
  writeFile(dir.file("base.toml"), "[stage2]\nepochs = 3\n");
  const auto path =
      writeSpec(dir, "[sweep]\nbase_config = \"base.toml\"\ndir = \"" + dir.file("sw") +
                         "\"\n[grid]\n\"stage2.lr\" = [5e-6, 1e-5, 2e-5]\n"
                         "stage2.mask = [\"otsu\", \"none\"]\n");
  const SweepSpec spec = loadSweepSpec(path);
  EXPECT_EQ(spec.base_config, fs::path(dir.file("base.toml")).lexically_normal().string());
  const auto points = expandSweep(spec);
  ASSERT_EQ(points.size(), 6u);
  EXPECT_EQ(points[0].params[0], (std::pair<std::string, std::string>{"stage2.lr", "5e-06"}));
  EXPECT_EQ(points[1].params[1].second, "\"none\"");
  EXPECT_EQ(points[2].params[0].second, "1e-05");
  EXPECT_EQ(points[5].params[0].second, "2e-05");
  EXPECT_EQ(points[5].out_dir, dir.file("sw") + "/runs/005");
  // run.out_dir and the shared cache come first; the swept keys after.
  EXPECT_EQ(points[3].sets,
            (std::vector<std::string>{"run.out_dir=" + dir.file("sw") + "/runs/003",
                                      "stage1.cache_dir=" + dir.file("sw") + "/cache",
                                      "stage2.lr=1e-05", "stage2.mask=\"none\""}));
}

TEST(SweepSpec, RandomDrawsAreSeededAndInRange) {
  TempDir dir;
  const std::string body =
      "[random]\nsamples = 40\n\"stage2.beta\" = { log_uniform = [0.001, 0.1] }\n"
      "\"stage2.epochs\" = { uniform = [2, 9] }\n\"stage2.mask\" = { choice = [\"otsu\", "
      "\"none\"] }\n";
  auto spec_a = loadSweepSpec(writeSpec(dir, "[sweep]\nseed = 7\n" + body, "a"));
  auto spec_b = loadSweepSpec(writeSpec(dir, "[sweep]\nseed = 7\n" + body, "b"));
  auto spec_c = loadSweepSpec(writeSpec(dir, "[sweep]\nseed = 8\n" + body, "c"));
  const auto a = expandSweep(spec_a), b = expandSweep(spec_b), c = expandSweep(spec_c);
  ASSERT_EQ(a.size(), 40u);
  bool differs = false;
  std::set<std::string> masks, epochs;
  double below = 0;  // draws of beta below the log-midpoint 0.01
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].params, b[i].params);
    differs = differs || a[i].params != c[i].params;
    const double beta = std::stod(a[i].params[0].second);
    EXPECT_GE(beta, 0.001);
    EXPECT_LE(beta, 0.1);
    below += beta < 0.01;
    const std::string& e = a[i].params[1].second;
    EXPECT_EQ(e.find('.'), std::string::npos) << "integer key drew " << e;
    EXPECT_GE(std::stoi(e), 2);
    EXPECT_LE(std::stoi(e), 9);
    epochs.insert(e);
    masks.insert(a[i].params[2].second);
  }
  EXPECT_TRUE(differs);
  EXPECT_EQ(masks, (std::set<std::string>{"\"otsu\"", "\"none\""}));
  EXPECT_GE(epochs.size(), 5u);
  // log-uniform: about half the draws fall below the geometric midpoint.
  EXPECT_GT(below, 8);
  EXPECT_LT(below, 32);
}

TEST(SweepSpec, GridTimesRandomAndSharedSets) {
  TempDir dir;
  const auto path = writeSpec(dir,
                              "[sweep]\nset = [\"stage2.margin=0.25\", "
                              "\"stage1.cache_dir=/shared/cache\"]\n[grid]\n\"stage2.lr\" = "
                              "[1e-5, 2e-5]\n[random]\nsamples = 3\n\"stage2.beta\" = { uniform "
                              "= [0.0, 1.0] }\n");
  const auto spec = loadSweepSpec(path);
  EXPECT_TRUE(spec.cache_dir_given);
  const auto points = expandSweep(spec);
  ASSERT_EQ(points.size(), 6u);
  EXPECT_EQ(points[2].params[0].second, "1e-05");
  EXPECT_EQ(points[3].params[0].second, "2e-05");
  for (const auto& p : points) {
    for (const auto& s : p.sets) EXPECT_EQ(s.rfind("stage1.cache_dir", 0), std::string::npos);
  }
}

TEST(SweepSpec, StringValuesWithQuotesRoundTrip) {
  TempDir dir;
  const auto spec = loadSweepSpec(
      writeSpec(dir, "[grid]\n\"model.weights\" = [\"/a b/\\\"w\\\".pt\", 'c:\\x.pt']\n"));
  const auto points = expandSweep(spec);
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0].params[0].second, "\"/a b/\\\"w\\\".pt\"");
  EXPECT_EQ(points[1].params[0].second, "\"c:\\\\x.pt\"");
}

struct BadSpec {
  std::string name;
  std::string text;
  std::string expected;  // part of the one-line message
};

class SweepBadSpec : public ::testing::TestWithParam<BadSpec> {};

// Each bad spec: exit 2, one line naming the spec file, nothing written, sbatch never called.
TEST_P(SweepBadSpec, FailsBeforeSubmission) {
  TempDir dir;
  const std::string spec = writeSpec(dir, GetParam().text, "bad");
  const std::string fake_sbatch = dir.file("sbatch");
  writeFile(fake_sbatch, "#!/bin/sh\ntouch " + dir.file("sbatch-called") + "\necho 1\n");
  fs::permissions(fake_sbatch, fs::perms::owner_all);
  writeFile(dir.file("sweep.sbatch"), "#!/bin/sh\n");
  const auto r = runAgreid({"sweep", spec, "--submit", "--dir", dir.file("sw"), "--sbatch",
                            fake_sbatch, "--script", dir.file("sweep.sbatch")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(agreid::testing::lineCount(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(spec), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(GetParam().expected), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir.file("sw")));
  EXPECT_FALSE(fs::exists(dir.file("sbatch-called")));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SweepBadSpec,
    ::testing::Values(
        BadSpec{"UnknownKey", "[grid]\n\"stage2.lrr\" = [1e-5]\n",
                "bad.toml:2: [grid] stage2.lrr: unknown key 'stage2.lrr' (did you mean "
                "'stage2.lr'?)"},
        BadSpec{"UnknownSection", "[grid]\n\"stag2.lr\" = [1e-5]\n", "unknown key 'stag2.lr'"},
        BadSpec{"EmptyGrid", "[grid]\n\"stage2.lr\" = []\n", "stage2.lr: empty list of values"},
        BadSpec{"NothingToSweep", "[sweep]\nseed = 1\n[grid]\n", "nothing to sweep"},
        BadSpec{"GridNotAList", "[grid]\n\"stage2.lr\" = 1e-5\n", "expected a list of values"},
        BadSpec{"WrongType", "[grid]\n\"stage2.epochs\" = [\"ten\"]\n", "expects an integer"},
        BadSpec{"OutOfRange", "[grid]\n\"stage2.beta\" = [0.1, -1.0]\n", "out of range"},
        BadSpec{"NonNumericRange",
                "[random]\nsamples = 2\n\"stage2.lr\" = { uniform = [\"a\", 1e-5] }\n",
                "bad.toml:3: [random] stage2.lr uniform: expected a numeric range [lo, hi]"},
        BadSpec{"LoAboveHi", "[random]\nsamples = 2\n\"stage2.lr\" = { uniform = [2e-5, 1e-5] }\n",
                "lo > hi"},
        BadSpec{"LogUniformNonPositive",
                "[random]\nsamples = 2\n\"stage2.lr\" = { log_uniform = [0, 1e-5] }\n",
                "needs 0 < lo"},
        BadSpec{"RangeOnStringKey",
                "[random]\nsamples = 2\n\"stage2.mask\" = { uniform = [0, 1] }\n",
                "ranges need an integer or float key"},
        BadSpec{"UnknownDistribution",
                "[random]\nsamples = 2\n\"stage2.lr\" = { normal = [0, 1] }\n",
                "unknown distribution 'normal'"},
        BadSpec{"RandomWithoutSamples", "[random]\n\"stage2.lr\" = { uniform = [0, 1e-5] }\n",
                "needs samples = N"},
        BadSpec{"SweptOutDir", "[grid]\n\"run.out_dir\" = [\"a\", \"b\"]\n",
                "run.out_dir cannot be swept"},
        BadSpec{"UnknownSweepKey", "[sweep]\nmax_paralel = 2\n[grid]\n\"stage2.lr\" = [1e-5]\n",
                "sweep.max_paralel: unknown key"},
        BadSpec{"MissingBaseConfig",
                "[sweep]\nbase_config = \"nope.toml\"\n[grid]\n\"stage2.lr\" = [1e-5]\n",
                "nope.toml' not found"},
        BadSpec{"BadTopLevelTable", "[grids]\n\"stage2.lr\" = [1e-5]\n", "unknown table 'grids'"},
        BadSpec{"TooManyDraws",
                "[random]\nsamples = 100000000\n\"stage2.lr\" = { uniform = [1e-6, 1e-5] }\n",
                "more than 10000 points (100000000 draws); split it"},
        BadSpec{"GridTooLarge",
                [] {
                  std::string t = "[grid]\n";
                  for (const char* key : {"stage2.lr", "stage2.beta", "stage2.margin"}) {
                    t += std::string("\"") + key + "\" = [";
                    for (int i = 1; i <= 25; ++i)
                      t += (i > 1 ? ", 0.0" : "0.0") + std::to_string(100 + i);
                    t += "]\n";
                  }
                  return t;
                }(),
                "more than 10000 points (25 x 25 x 25)"},
        BadSpec{"UnknownMetric", "[sweep]\nmetric = \"mAPP\"\n[grid]\n\"stage2.lr\" = [1e-5]\n",
                "bad.toml:2: sweep.metric: unknown metric 'mAPP' (did you mean 'mAP'?)"},
        BadSpec{"InvalidToml", "[grid]\n\"stage2.lr\" = [1e-5\n", "invalid TOML"}),
    [](const ::testing::TestParamInfo<BadSpec>& info) { return info.param.name; });

TEST(SweepCommand, BadBaseConfigKeyNamesBothFiles) {
  TempDir dir;
  writeFile(dir.file("base.toml"), "[stage2]\nmargn = 0.3\n");
  const auto spec =
      writeSpec(dir, "[sweep]\nbase_config = \"base.toml\"\n[grid]\n\"stage2.lr\" = [1e-5]\n");
  const auto r = runAgreid({"sweep", spec, "--dry-run"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(spec), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("base.toml:2: unknown key 'stage2.margn'"), std::string::npos) << r.err;
}

TEST(SweepCommand, DryRunPrintsNumberedPointsAndWritesNothing) {
  TempDir dir;
  const auto spec = writeSpec(dir, "[sweep]\ndir = \"" + dir.file("sw") +
                                       "\"\n[grid]\n\"stage2.lr\" = [1e-5, 2e-5]\n"
                                       "\"stage2.beta\" = [0.01, 0.1]\n");
  const auto r = runAgreid({"sweep", spec, "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("4 points"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("#  stage2.lr  stage2.beta"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3  2e-05      0.1"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir.file("sw")));
}

TEST(SweepCommand, NeedsExactlyOneMode) {
  TempDir dir;
  const auto spec = writeSpec(dir, "[grid]\n\"stage2.lr\" = [1e-5]\n");
  const auto r = runAgreid({"sweep", spec, "--dry-run", "--local"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("exactly one of --dry-run, --submit or --local"), std::string::npos);
}

TEST(SweepCommand, RanksGoWithLocalOnlyAndAreBounded) {
  TempDir dir;
  const auto spec = writeSpec(dir, "[grid]\n\"stage2.lr\" = [1e-5]\n");
  auto r = runAgreid({"sweep", spec, "--dry-run", "--ranks", "2"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--ranks goes with --local"), std::string::npos) << r.err;
  r = runAgreid({"sweep", spec, "--local", "--ranks", "0", "--dir", dir.file("sw")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--ranks expects an integer in 1..1024, got '0'"), std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(dir.file("sw")));
}

TEST(SweepCommand, SubmitWritesRunListAndSubmitsOneArrayJob) {
  TempDir dir;
  // A stand-in for sbatch that records its arguments and environment.
  const std::string fake_sbatch = dir.file("sbatch");
  writeFile(fake_sbatch, "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + dir.file("args") +
                             "\necho \"$AGREID_BIN\" > " + dir.file("bin") + "\necho 4242\n");
  fs::permissions(fake_sbatch, fs::perms::owner_all);
  fs::create_directories(dir.file("repo/slurm"));
  writeFile(dir.file("repo/slurm/sweep.sbatch"), "#!/bin/sh\n");
  writeFile(dir.file("base.toml"), "[stage2]\nepochs = 2\n");
  const auto spec = writeSpec(dir,
                              "[sweep]\nbase_config = \"base.toml\"\nmax_parallel = 2\n"
                              "sbatch = [\"--time=00:10:00\"]\nset = [\"stage2.margin=0.2\"]\n"
                              "[grid]\n\"stage2.lr\" = [1e-5, 2e-5, 3e-5]\n");
  const std::string sw = dir.file("sw");
  const auto r = runAgreid({"sweep", spec, "--submit", "--dir", sw, "--sbatch", fake_sbatch,
                            "--script", dir.file("repo/slurm/sweep.sbatch")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "4242\n");
  EXPECT_EQ(readFile(sw + "/job_id"), "4242\n");
  EXPECT_EQ(readFile(dir.file("args")),
            "--parsable\n--array=0-2%2\n--job-name=agreid-sweep-s\n--output=" + sw +
                "/logs/%A_%a.out\n--time=00:10:00\n" + dir.file("repo/slurm/sweep.sbatch") + "\n" +
                sw + "\n");
  EXPECT_EQ(readFile(dir.file("bin")), std::string(AGREID_BINARY) + "\n");
  const std::string runs = readFile(sw + "/runs.tsv");
  EXPECT_NE(runs.find("1\t" + sw + "/runs/001\trun.out_dir=" + sw +
                      "/runs/001\tstage1.cache_dir=" + sw + "/cache\tstage2.lr=2e-05\n"),
            std::string::npos)
      << runs;
  // base.toml is the resolved base config plus [sweep] set: loading it gives those values.
  const std::string base = readFile(sw + "/base.toml");
  EXPECT_NE(base.find("epochs = 2\n"), std::string::npos);
  EXPECT_NE(base.find("margin = 0.2\n"), std::string::npos);
  // Submitting the same sweep again reuses the folder; a different one is refused.
  EXPECT_EQ(runAgreid({"sweep", spec, "--submit", "--dir", sw, "--sbatch", fake_sbatch, "--script",
                       dir.file("repo/slurm/sweep.sbatch")})
                .exit_code,
            0);
  writeFile(spec, readFile(spec) + "\"stage2.beta\" = [0.5]\n");
  const auto r2 = runAgreid({"sweep", spec, "--submit", "--dir", sw, "--sbatch", fake_sbatch,
                             "--script", dir.file("repo/slurm/sweep.sbatch")});
  EXPECT_EQ(r2.exit_code, 2);
  EXPECT_NE(r2.err.find("already holds a different sweep"), std::string::npos) << r2.err;
}

TEST(SweepCommand, SubmitWithoutSbatchIsAnInputError) {
  TempDir dir;
  const auto spec = writeSpec(dir, "[grid]\n\"stage2.lr\" = [1e-5]\n");
  writeFile(dir.file("sweep.sbatch"), "#!/bin/sh\n");
  const auto r = runAgreid({"sweep", spec, "--submit", "--dir", dir.file("sw"), "--sbatch",
                            dir.file("no-sbatch"), "--script", dir.file("sweep.sbatch")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not found"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir.file("sw")));
}

TEST(SweepCommand, ShippedSweepSpecsValidate) {
  int seen = 0;
  for (const auto& e : fs::directory_iterator(std::string(AGREID_SOURCE_DIR) + "/configs/sweeps")) {
    if (e.path().extension() != ".toml") continue;
    ++seen;
    const auto spec = loadSweepSpec(e.path().string());
    EXPECT_GE(expandSweep(spec).size(), 3u) << e.path();
  }
  EXPECT_GE(seen, 3);
}

TEST(SweepResultsJson, FlattensNestedNumbers) {
  const auto m = parseFlatJsonNumbers(
      R"({"mAP": 0.5, "all": {"rank1": 0.75, "cmc": [1, 2]}, "name": "x", "ok": true,
          "none": null, "e": -1.5e-3, "n": 7})",
      "r.json");
  EXPECT_DOUBLE_EQ(m.at("mAP"), 0.5);
  EXPECT_DOUBLE_EQ(m.at("all.rank1"), 0.75);
  EXPECT_DOUBLE_EQ(m.at("e"), -1.5e-3);
  EXPECT_DOUBLE_EQ(m.at("n"), 7);
  EXPECT_TRUE(std::isnan(m.at("none")));  // null: an undefined metric
  EXPECT_EQ(m.count("name") + m.count("ok") + m.count("all.cmc"), 0u);
  // Not JSON: NaN/Infinity literals (writers put null), truncation, a repeated key, no object.
  for (const auto& [text, reason] : std::vector<std::pair<std::string, std::string>>{
           {"{\"mAP\": NaN}", "r.json: malformed JSON at byte 9 (syntax error"},
           {"{\"mAP\": -Infinity}", "r.json: malformed JSON at byte"},
           {"{\"mAP\": 0.5,", "r.json: malformed JSON at byte 13"},
           {"{\"mAP\": 0.5, \"mAP\": 0.6}", "key 'mAP' appears twice"},
           {"{\"a\": 1e999}", "r.json: malformed JSON (number overflow"},
           {std::string(70, '[') + std::string(70, ']'), "nested deeper than 64 levels"},
           {"[0.5]", "r.json: expected a JSON object"}}) {
    try {
      parseFlatJsonNumbers(text, "r.json");
      ADD_FAILURE() << "no error for " << text;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  }
}

TEST(SweepCollect, SortsByMetricAndListsFailedAndMissingPoints) {
  TempDir dir;
  const std::string sw = dir.file("sw");
  const auto spec = loadSweepSpec(
      writeSpec(dir,
                "[sweep]\nmetric = \"mAP\"\n[grid]\n\"stage2.lr\" = [1e-5, 2e-5, 3e-5, "
                "4e-5, 5e-5]\n\"stage2.mask\" = [\"otsu\"]\n"),
      sw);
  const auto points = expandSweep(spec);
  writeSweepFolder(spec, points);
  // Point 0 and 2 finished (2 is better), 1 failed, 3 is still running, 4 never started.
  fs::create_directories(points[0].out_dir);
  fs::create_directories(points[2].out_dir);
  // results.json as eval writes it (a subset of its keys): columns come in report order, not
  // sorted as text, and counts stay out of the Markdown table.
  writeFile(points[0].out_dir + "/results.json",
            R"({"mAP": 0.41, "rank1": 0.6, "rank10": 0.9, "rank5": 0.8, "num_query": 10,
                "cmc": [0.6, 0.7], "subsets": {"occluded": {"mAP": 0.3, "rank1": 0.5}}})");
  writeFile(points[2].out_dir + "/results.json",
            R"({"mAP": 0.52, "rank1": 0.7, "rank10": 0.95, "rank5": 0.9, "num_query": 10,
                "cmc": [0.7, 0.8], "subsets": {"occluded": {"mAP": 0.4, "rank1": 0.6}}})");
  writeFile(points[0].out_dir + "/../../status/0", "0\n");
  writeFile(sw + "/status/1", "2\n");
  writeFile(sw + "/status/3", "running\n");

  const auto r = runAgreid({"sweep", "collect", sw});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string md = readFile(sw + "/results.md");
  EXPECT_EQ(r.out, md);
  const std::string none = " |  |  |  |  |  |  | ";
  EXPECT_EQ(md,
            "| rank | point | status | stage2.lr | stage2.mask | mAP | rank1 | rank5 | rank10 | "
            "subsets.occluded.mAP | subsets.occluded.rank1 | out_dir |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
            "| 1 | 2 | ok | 3e-05 | otsu | 0.52 | 0.7 | 0.9 | 0.95 | 0.4 | 0.6 | " +
                points[2].out_dir +
                " |\n"
                "| 2 | 0 | ok | 1e-05 | otsu | 0.41 | 0.6 | 0.8 | 0.9 | 0.3 | 0.5 | " +
                points[0].out_dir + " |\n| - | 1 | failed (exit 2) | 2e-05 | otsu" + none +
                points[1].out_dir + " |\n| - | 3 | running | 4e-05 | otsu" + none +
                points[3].out_dir + " |\n| - | 4 | missing | 5e-05 | otsu" + none +
                points[4].out_dir + " |\n");
  const std::string csv = readFile(sw + "/results.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "rank,point,status,stage2.lr,stage2.mask,mAP,rank1,rank5,rank10,subsets.occluded.mAP,"
            "subsets.occluded.rank1,num_query,out_dir");
  EXPECT_NE(r.err.find("2 of 5 points have results; sorted by mAP (max)"), std::string::npos)
      << r.err;
}

TEST(SweepCollect, NotASweepFolder) {
  TempDir dir;
  const auto r = runAgreid({"sweep", "collect", dir.path().string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not a sweep folder"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace agreid::launch
