// The whole pipeline on 2 MPI ranks with a seconds-sized world and model: synth -> pretrain ->
// run (pseudo-label -> train -> eval) for AG-ReID and CLIP-ReID, cache reuse, finished stages
// skipped, and the pipeline's bad inputs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <vector>

#include "tests/support/test_support.h"

namespace agreid::testing {
namespace {

namespace fs = std::filesystem;

class Pipeline : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    vocab_ = clipVocabPath();
    if (vocab_.empty()) return;
    dir_ = new TempDir();
    auto r = runAgreid({"synth", "--config", config(), "--out", path("world")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run(2, {"pretrain", "--config", config()}, {});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    ready_ = true;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (vocab_.empty()) {
      GTEST_SKIP() << "CLIP vocabulary not found at ../shared/clip/bpe_simple_vocab_16e6.txt.gz";
    }
    ASSERT_TRUE(ready_) << "the suite's synth + pretrain set-up failed (see above)";
  }

  static std::string config() { return std::string(AGREID_SOURCE_DIR) + "/tests/e2e/tiny.toml"; }
  static std::string path(const std::string& name) { return dir_->file(name); }

  // Runs agreid under mpiexec with the paths of this suite's temporary folder.
  static CommandResult run(int ranks, std::vector<std::string> args,
                           const std::vector<std::string>& sets) {
    std::vector<std::string> all = {"run.dataset=" + path("world/reid.h5"),
                                    "pretrain.data=" + path("world/pretrain.h5"),
                                    "pretrain.out=" + path("clip.pt"),
                                    "model.weights=" + path("clip.pt"),
                                    "model.vocab=" + vocab_,
                                    "stage1.cache_dir=" + path("cache"),
                                    "run.out_dir=" + path("runs/default")};
    all.insert(all.end(), sets.begin(), sets.end());
    for (const auto& s : all) {
      args.push_back("--set");
      args.push_back(s);
    }
    std::string cmd =
        "mpiexec -n " + std::to_string(ranks) + " --oversubscribe " + shellQuote(AGREID_BINARY);
    for (const auto& a : args) cmd += " " + shellQuote(a);
    return runShell(cmd);
  }

  static TempDir* dir_;
  static std::string vocab_;
  static bool ready_;
};

TempDir* Pipeline::dir_ = nullptr;
std::string Pipeline::vocab_;
bool Pipeline::ready_ = false;

TEST_F(Pipeline, PretrainWroteCheckpointAndRetrieval) {
  EXPECT_TRUE(fs::exists(path("clip.pt")));
  const std::string json = readFile(path("runs/default/pretrain.json"));
  EXPECT_NE(json.find("\"recall1\""), std::string::npos) << json;
  auto r = runAgreid({"inspect", path("clip.pt")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

// Hard-negative batches (pretrain.hard_negatives): pretraining runs with them, and names a bad
// attribute or chunk size in one line.
TEST_F(Pipeline, PretrainWithHardNegatives) {
  // Each run its own folder: a folder records the configuration it was made with.
  auto with = [&](const std::string& name, std::vector<std::string> sets) {
    sets.insert(sets.begin(), {"pretrain.out=" + path(name + "/clip.pt"),
                               "run.out_dir=" + path("runs/" + name), "pretrain.batch_size=16"});
    return sets;
  };
  auto r = run(2, {"pretrain", "--config", config()},
               with("hard", {"pretrain.hard_negatives=[\"gender\", \"upper_colour\"]",
                             "pretrain.hard_negative_people=4"}));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(fs::exists(path("hard/clip.pt")));
  EXPECT_NE(r.out.find("hard negatives: 48 training people"), std::string::npos) << r.out;

  r = run(2, {"pretrain", "--config", config()},
          with("wings", {"pretrain.hard_negatives=[\"wings\"]"}));
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("pretrain.hard_negatives: 'wings' is not an attribute stored in " +
                       path("world/pretrain.h5")),
            std::string::npos)
      << r.err;
  r = run(
      2, {"pretrain", "--config", config()},
      with("chunk", {"pretrain.hard_negatives=[\"gender\"]", "pretrain.hard_negative_people=17"}));
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(
      r.err.find("pretrain.hard_negative_people = 17 is larger than pretrain.batch_size = 16"),
      std::string::npos)
      << r.err;
}

// The lines of `text` that contain `needle`.
std::vector<std::string> linesWith(const std::string& text, const std::string& needle) {
  std::vector<std::string> out;
  std::istringstream is(text);
  for (std::string line; std::getline(is, line);) {
    if (line.find(needle) != std::string::npos) out.push_back(line);
  }
  return out;
}

const std::regex kStampedLine(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d .*)");

TEST_F(Pipeline, AgReidRunThenCacheHitAndSkip) {
  const std::string out = path("runs/ag");
  const std::vector<std::string> sets = {"run.out_dir=" + out, "eval.eval_every=1"};
  auto r = run(2, {"run", "--config", config()}, sets);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("pseudo-label cache miss"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(out + "/model_final.pt"));
  EXPECT_TRUE(fs::exists(out + "/metrics.jsonl"));

  // What a user watches. mpiexec's output goes to a file here although its ranks get a
  // pseudo-terminal: plain, time-stamped progress lines with an ETA, never a '\r'.
  EXPECT_EQ(r.out.find('\r'), std::string::npos) << r.out;
  for (const char* stage : {"stage 1 features: ", "stage 1: ", "stage 2: ", "eval query: "}) {
    const auto progress = linesWith(r.out, stage);
    ASSERT_FALSE(progress.empty()) << stage << " in:\n" << r.out;
    EXPECT_TRUE(std::regex_match(progress.front(), kStampedLine)) << progress.front();
  }
  EXPECT_NE(r.out.find(" steps (100%), "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(", ETA 00:00:00"), std::string::npos) << r.out;
  // The run folder's log.txt: the command, then rank 0's lines as printed, time-stamped.
  const std::string log = readFile(out + "/log.txt");
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.find('\r'), std::string::npos);
  EXPECT_NE(log.substr(0, log.find('\n')).find(" agreid run --config "), std::string::npos) << log;
  std::istringstream log_lines(log);
  for (std::string line; std::getline(log_lines, line);) {
    if (line.rfind("|", 0) == 0 || line.empty()) continue;  // the results table's rows
    EXPECT_TRUE(std::regex_match(line, kStampedLine)) << line;
  }
  for (const char* part : {"pseudo-label cache miss", "stage 2: done, ",
                           "eval after epoch 1: all mAP", "| occluded (", "results in "}) {
    EXPECT_NE(log.find(part), std::string::npos) << part << " not in log.txt:\n" << log;
  }
  // Each evaluation reached metrics.jsonl: after epochs 1 and 2 of stage 2, and `run`'s own,
  // each with the holistic and occluded query groups.
  const auto evals = linesWith(readFile(out + "/metrics.jsonl"), "\"stage\":\"eval\"");
  ASSERT_EQ(evals.size(), 3u) << readFile(out + "/metrics.jsonl");
  EXPECT_NE(evals[0].find("\"epoch\":0,\"all\":{\"mAP\":"), std::string::npos) << evals[0];
  EXPECT_NE(evals[1].find("\"epoch\":1,"), std::string::npos) << evals[1];
  EXPECT_EQ(evals[2].find("\"epoch\""), std::string::npos) << evals[2];
  for (const auto& e : evals) {
    EXPECT_NE(e.find("\"holistic\":{\"mAP\":"), std::string::npos) << e;
    EXPECT_NE(e.find("\"occluded\":{\"mAP\":"), std::string::npos) << e;
  }
  // The last two evaluated the same model at the same step.
  EXPECT_EQ(evals[1].substr(0, evals[1].find(",\"epoch\"")),
            evals[2].substr(0, evals[2].find(",\"all\"")));
  EXPECT_EQ(evals[1].substr(evals[1].find("\"all\"")), evals[2].substr(evals[2].find("\"all\"")));
  std::string events;
  for (const auto& e : fs::directory_iterator(out + "/tensorboard")) {
    events += readFile(e.path().string());
  }
  EXPECT_NE(events.find("eval/occluded/mAP"), std::string::npos);
  const std::string results = readFile(out + "/results.json");
  EXPECT_NE(results.find("\"mAP\""), std::string::npos) << results;
  EXPECT_NE(results.find("\"occluded\""), std::string::npos) << results;
  EXPECT_NE(readFile(out + "/pseudo_label.json").find("\"readout_accuracy\""), std::string::npos);

  // Same key: the cache is read, and the finished model is not retrained.
  r = run(2, {"run", "--config", config()}, sets);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("pseudo-label cache hit"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("skipping training"), std::string::npos) << r.out;
  EXPECT_NE(readFile(out + "/log.txt").find("skipping training"), std::string::npos);  // appended

  // The trained model through extract (re-ID feature) and eval --checkpoint.
  r = run(2,
          {"extract", "--config", config(), "--weights", out + "/model_final.pt", "--data",
           path("world/reid.h5"), "--split", "query", "--out", path("q.h5")},
          {});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("reid features"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" extract query: done, "), std::string::npos) << r.out;
  r = run(2,
          {"eval", "--config", config(), "--checkpoint", out + "/model_final.pt", "--out",
           path("runs/ag-eval")},
          {});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(readFile(path("runs/ag-eval/results.json")), readFile(out + "/results.json"));
  // The synthetic world stores attributes and visibility: the linear attribute probe ran, the
  // same on both evaluations of the same model.
  EXPECT_NE(r.out.find("linear attribute probe (5 folds over"), std::string::npos) << r.out;
  const std::string probe = readFile(out + "/attribute_probe.json");
  EXPECT_NE(probe.find("\"hidden\""), std::string::npos) << probe;
  EXPECT_EQ(readFile(path("runs/ag-eval/attribute_probe.json")), probe);

  r = runAgreid({"report", out});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| ag |"), std::string::npos) << r.out;

  // Every JSON file the commands wrote is strict JSON to Python.
  const std::vector<std::string> json_files = {path("runs/default/pretrain.json"),
                                               out + "/pseudo_label.json",
                                               out + "/train.json",
                                               out + "/results.json",
                                               out + "/metrics.jsonl",
                                               path("runs/ag-eval/results.json"),
                                               out + "/attribute_probe.json"};
  EXPECT_GT(expectPythonReadsJson(json_files), static_cast<int>(json_files.size()));
}

TEST_F(Pipeline, ClipReidBaselineRuns) {
  const std::string out = path("runs/clip");
  auto r = run(2, {"run", "--config", config()}, {"run.out_dir=" + out, "stage2.method=clip-reid"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(fs::exists(out + "/results.json"));
}

TEST_F(Pipeline, TruncatedCacheIsRecomputedWithWarning) {
  const std::string cache = path("cache-trunc");
  auto r = run(1, {"pseudo-label", "--config", config()},
               {"stage1.cache_dir=" + cache, "run.out_dir=" + path("runs/trunc")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  fs::path file;
  for (const auto& e : fs::directory_iterator(cache)) {
    if (e.path().extension() == ".h5") file = e.path();
  }
  ASSERT_FALSE(file.empty());
  fs::resize_file(file, fs::file_size(file) / 2);
  r = run(1, {"pseudo-label", "--config", config()},
          {"stage1.cache_dir=" + cache, "run.out_dir=" + path("runs/trunc")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("unusable pseudo-label cache"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("pseudo-label cache miss"), std::string::npos) << r.out;
}

void expectOneLineError(const CommandResult& r, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  int errors = 0;
  std::istringstream is(r.err);
  for (std::string line; std::getline(is, line);)
    errors += line.find("error:") != std::string::npos;
  EXPECT_GE(errors, 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

TEST_F(Pipeline, MissingWeightsOrDataset) {
  expectOneLineError(
      run(1, {"pseudo-label", "--config", config()}, {"model.weights=" + path("absent.pt")}),
      "absent.pt: CLIP weights file not found");
  expectOneLineError(
      run(1, {"pseudo-label", "--config", config()}, {"run.dataset=" + path("absent.h5")}),
      "absent.h5: dataset file not found");
  // Damaged weights fail before any stage work, even where a pseudo-label cache would hit.
  const std::string cut = path("cut-clip.pt");
  fs::copy_file(path("clip.pt"), cut, fs::copy_options::overwrite_existing);
  fs::resize_file(cut, fs::file_size(cut) / 2);
  expectOneLineError(run(1, {"train", "--config", config()},
                         {"model.weights=" + cut, "run.out_dir=" + path("runs/cut")}),
                     "unusable CLIP weights (model.weights): " + cut + ": damaged archive");
}

TEST_F(Pipeline, DatasetWithoutTrainSplit) {
  // A CSV manifest with only query and gallery images (JPEGs from the preview writer).
  fs::create_directories(path("notrain"));
  const std::string csv = path("notrain/list.csv");
  auto r = runAgreid(
      {"synth", "--config", config(), "--preview", path("notrain/a.jpg"), "--columns", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  fs::copy_file(path("notrain/a.jpg"), path("notrain/b.jpg"));
  writeFile(csv, "a.jpg,1,0,query\nb.jpg,1,1,gallery\n");
  r = runAgreid({"import", "csv", "--root", path("notrain"), "--manifest", csv, "--out",
                 path("notrain/eval.h5")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expectOneLineError(
      run(1, {"pseudo-label", "--config", config()}, {"run.dataset=" + path("notrain/eval.h5")}),
      "has no train split");
}

TEST_F(Pipeline, BadTemplates) {
  expectOneLineError(
      run(1, {"pseudo-label", "--config", config()}, {"stage1.template=a photo of a person."}),
      "placeholder");
  std::string long_template = "A photo of";
  for (int i = 0; i < 80; ++i) long_template += " X";
  expectOneLineError(
      run(1, {"pseudo-label", "--config", config()}, {"stage1.template=" + long_template}),
      "context");
}

TEST_F(Pipeline, CheckpointOfAnotherArchitectureIsRefused) {
  // Train a model with stride 8, then start a stride-4 run from its checkpoint's weights.
  const std::string a = path("runs/arch-a");
  auto r = run(1, {"train", "--config", config()}, {"run.out_dir=" + a, "stage2.epochs=1"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string checkpoint;
  for (const auto& e : fs::directory_iterator(a + "/checkpoints")) {
    if (e.path().extension() == ".pt") checkpoint = e.path().string();
  }
  ASSERT_FALSE(checkpoint.empty());
  expectOneLineError(run(1, {"train", "--config", config(), "--init-from", checkpoint},
                         {"run.out_dir=" + path("runs/arch-b"), "model.stride=4"}),
                     "positional_embedding");
  // Resuming another run's checkpoint is refused (weights only: --init-from).
  expectOneLineError(run(1, {"train", "--config", config()},
                         {"run.out_dir=" + path("runs/arch-c"), "checkpoint.resume=" + checkpoint}),
                     "checkpoint.resume: " + checkpoint + " is not a checkpoint of this run (" +
                         path("runs/arch-c/checkpoints") +
                         "); to start a new run from its weights use --init-from " + checkpoint);
}

// The bar is drawn only when mpiexec itself writes to a terminal: under `script` (a pseudo-
// terminal, as in an interactive shell) rank 0 redraws it with '\r'; AGREID_PROGRESS=lines
// turns it into lines there too.
TEST_F(Pipeline, BarOnlyWhenMpiexecWritesToATerminal) {
  std::string extract = "mpiexec -n 1 " + shellQuote(AGREID_BINARY) + " extract --config " +
                        shellQuote(config()) + " --weights " + shellQuote(path("clip.pt")) +
                        " --data " + shellQuote(path("world/reid.h5")) + " --batch-size 8 --out ";
  auto r =
      runShell("script -qec " + shellQuote(extract + shellQuote(path("tty1.h5"))) + " /dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("\rextract all: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("extract all: done, "), std::string::npos) << r.out;
  r = runShell("script -qec " +
               shellQuote("AGREID_PROGRESS=lines " + extract + shellQuote(path("tty2.h5"))) +
               " /dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.find("\rextract"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("extract all: done, "), std::string::npos) << r.out;
}

}  // namespace
}  // namespace agreid::testing
