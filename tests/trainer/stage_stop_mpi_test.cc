// Pretraining and stage 1 on the Engine, under mpiexec: a stop requested on ONE rank (the stop
// flag SIGUSR1/SIGTERM set) is agreed by all ranks, the stage returns "stopped" with a checkpoint
// and without its final output (no CLIP file, no pseudo-label cache), and a resumed run ends with
// parameters bit-identical to an uninterrupted one.
#include <ATen/record_function.h>
#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "base/log.h"
#include "comm/mpi_communicator.h"
#include "launch/commands.h"
#include "launch/config.h"
#include "tests/support/device_reads.h"
#include "tests/support/test_support.h"
#include "trainer/model/clip_checkpoint.h"
#include "trainer/model/clip_model.h"
#include "trainer/stages/dual_guidance.h"
#include "trainer/stages/pretrain.h"
#include "trainer/stages/pseudo_label.h"
#include "trainer/util/json.h"

namespace agreid::trainer {
namespace {

namespace fs = std::filesystem;

// One folder for all ranks (rank 0's temporary folder), with the tiny synthetic world in it.
class StageStop : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    vocab_ = testing::clipVocabPath();
    if (vocab_.empty()) return;
    comm_ = new comm::MpiCommunicator();
    std::string dir;
    if (comm_->rank() == 0) {
      dir_ = new testing::TempDir();
      dir = dir_->path().string();
      const auto r = testing::runAgreid(
          {"synth", "--config", config(), "--out", (fs::path(dir) / "world").string()});
      if (r.exit_code != 0) dir.clear();
    }
    int size = static_cast<int>(dir.size());
    MPI_Bcast(&size, 1, MPI_INT, 0, MPI_COMM_WORLD);
    dir.resize(static_cast<size_t>(size));
    MPI_Bcast(dir.data(), size, MPI_CHAR, 0, MPI_COMM_WORLD);
    root_ = dir;
  }
  static void TearDownTestSuite() {
    MPI_Barrier(MPI_COMM_WORLD);
    delete dir_;
    delete comm_;
  }
  void SetUp() override {
    if (vocab_.empty()) GTEST_SKIP() << "CLIP vocabulary not found";
    ASSERT_FALSE(root_.empty()) << "agreid synth failed";
  }

  static std::string config() { return std::string(AGREID_SOURCE_DIR) + "/tests/e2e/tiny.toml"; }
  static std::string path(const std::string& name) { return (fs::path(root_) / name).string(); }

  static launch::Config tinyConfig(const std::string& run,
                                   const std::vector<std::string>& extra = {}) {
    launch::ConfigSources sources;
    sources.file = config();
    sources.sets = {"run.out_dir=" + path(run),
                    "run.dataset=" + path("world/reid.h5"),
                    "pretrain.data=" + path("world/pretrain.h5"),
                    "pretrain.out=" + path(run + "/clip.pt"),
                    "pretrain.steps=20",
                    "model.weights=" + path("a/clip.pt"),
                    "model.vocab=" + vocab_,
                    "stage1.cache_dir=" + path(run + "/cache"),
                    "checkpoint.every_steps=4"};
    sources.sets.insert(sources.sets.end(), extra.begin(), extra.end());
    return launch::loadConfig(sources);
  }

  static PretrainSetup pretrainSetup(const launch::Config& c) {
    PretrainSetup s;
    s.pretrain = c.pretrain;
    s.arch = c.clip;
    s.vocab = c.model.vocab;
    s.transform = c.transform;
    s.loader = c.loader;
    s.seed = c.run.seed;
    s.log_every = 3;
    s.run_dir = c.run.out_dir;
    s.checkpoint = c.checkpoint;
    return s;
  }

  static PseudoLabelSetup stage1Setup(const launch::Config& c) {
    PseudoLabelSetup s;
    s.dataset = c.run.dataset;
    s.model = c.model;
    s.stage1 = c.stage1;
    s.stage1.epochs = 3;
    s.transform = c.transform;
    s.loader = c.loader;
    s.seed = c.run.seed;
    s.cache_dir = c.stage1.cache_dir;
    s.run_dir = c.run.out_dir;
    s.checkpoint = c.checkpoint;
    s.log_every = 2;
    return s;
  }

  // A context whose stop flag rises on rank 1 only, once it was polled `polls` times.
  static StageContext context(const Log& log, int64_t* polls, int64_t stop_after) {
    StageContext ctx{*comm_, log};
    if (stop_after >= 0) {
      ctx.stop_requested = [polls, stop_after] {
        return comm_->rank() == 1 && ++*polls > stop_after;
      };
    }
    return ctx;
  }

  static void expectSameParameters(const torch::nn::Module& a, const torch::nn::Module& b) {
    const auto pa = a.named_parameters(true);
    const auto pb = b.named_parameters(true);
    ASSERT_EQ(pa.size(), pb.size());
    for (const auto& item : pa) {
      EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
    }
  }

  // Stage 2 with `setup` stops with a one-line InputError containing `expected`.
  static void expectRefused(const TrainSetup& setup, const PseudoLabelCache& cache,
                            StageContext& ctx, const std::string& expected) {
    try {
      runDualGuidance(setup, cache, ctx);
      ADD_FAILURE() << "no error";
    } catch (const InputError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(expected), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  }

  static comm::MpiCommunicator* comm_;
  static testing::TempDir* dir_;
  static std::string root_;
  static std::string vocab_;
};

comm::MpiCommunicator* StageStop::comm_ = nullptr;
testing::TempDir* StageStop::dir_ = nullptr;
std::string StageStop::root_;
std::string StageStop::vocab_;

TEST_F(StageStop, PretrainStoppedOnOneRankResumesToTheUninterruptedModel) {
  Log log(comm_->rank(), comm_->size(), ProgressStyle::kNone);
  int64_t polls = 0;
  {
    StageContext ctx = context(log, &polls, -1);
    const auto a = runPretrain(pretrainSetup(tinyConfig("a")), ctx);
    EXPECT_TRUE(a.completed);
    EXPECT_EQ(a.steps, 20);
  }
  const launch::Config b = tinyConfig("b");
  {
    StageContext ctx = context(log, &polls, 7);
    const auto stopped = runPretrain(pretrainSetup(b), ctx);
    EXPECT_FALSE(stopped.completed);
    EXPECT_EQ(stopped.steps, 7);
  }
  EXPECT_FALSE(fs::exists(b.pretrain.out)) << "a stopped pretraining wrote its final CLIP file";
  EXPECT_TRUE(fs::exists(pretrainCheckpointDir(path("b")) + "/checkpoint-7.pt"));
  {
    StageContext ctx = context(log, &polls, -1);
    const auto resumed = runPretrain(pretrainSetup(b), ctx);
    EXPECT_TRUE(resumed.completed);
    EXPECT_EQ(resumed.steps, 20);
  }
  ASSERT_TRUE(fs::exists(b.pretrain.out));
  expectSameParameters(*loadClip(path("a/clip.pt")), *loadClip(b.pretrain.out));
}

TEST_F(StageStop, Stage1StoppedOnOneRankResumesToTheUninterruptedPseudoLabels) {
  ASSERT_TRUE(fs::exists(path("a/clip.pt"))) << "needs the pretraining test's CLIP file";
  Log log(comm_->rank(), comm_->size(), ProgressStyle::kNone);
  int64_t polls = 0;
  PseudoLabelResult full;
  {
    StageContext ctx = context(log, &polls, -1);
    full = obtainPseudoLabels(stage1Setup(tinyConfig("a")), ctx);
    ASSERT_TRUE(full.completed);
    EXPECT_FALSE(full.cache_hit);
  }
  const PseudoLabelSetup b = stage1Setup(tinyConfig("b1"));
  {
    StageContext ctx = context(log, &polls, 5);
    const auto stopped = obtainPseudoLabels(b, ctx);
    EXPECT_FALSE(stopped.completed);
    EXPECT_EQ(stopped.steps, 5);
    EXPECT_FALSE(fs::exists(stopped.path)) << "a stopped stage 1 wrote its pseudo-label cache";
  }
  EXPECT_TRUE(fs::exists(stage1CheckpointDir(path("b1")) + "/checkpoint-5.pt"));
  StageContext ctx = context(log, &polls, -1);
  const auto resumed = obtainPseudoLabels(b, ctx);
  ASSERT_TRUE(resumed.completed);
  EXPECT_FALSE(resumed.cache_hit);
  EXPECT_GT(resumed.steps, 5);
  EXPECT_EQ(resumed.cache.key, full.cache.key);
  EXPECT_TRUE(torch::equal(resumed.cache.tokens, full.cache.tokens));
  EXPECT_TRUE(torch::equal(resumed.cache.text_features, full.cache.text_features));
  ASSERT_EQ(resumed.cache.encoder.size(), full.cache.encoder.size());
  for (size_t i = 0; i < full.cache.encoder.size(); ++i) {
    EXPECT_TRUE(torch::equal(resumed.cache.encoder[i].second, full.cache.encoder[i].second))
        << full.cache.encoder[i].first;
  }
}

// Note [Device reads per step]: a training step never reads a value back from the device (on a
// GPU each read stalls the stream); loss terms are read every log_every steps, outside the steps.
// Every stage's steps, on 2 ranks, with the reads the profiler sees (tests/support/device_reads.h).
TEST_F(StageStop, TrainingStepsReadNothingBackFromTheDevice) {
  ASSERT_TRUE(fs::exists(path("a/clip.pt"))) << "needs the pretraining test's CLIP file";
  Log log(comm_->rank(), comm_->size(), ProgressStyle::kNone);
  int64_t polls = 0;
  StageContext ctx = context(log, &polls, -1);
  const auto expectNoReads = [](const testing::DeviceReadCounter& counter, const char* stage) {
    EXPECT_GT(counter.steps(), 0) << stage << ": no step seen";
    EXPECT_EQ(counter.readsInSteps(), 0)
        << stage << ": " << ::testing::PrintToString(counter.examples());
  };
  {
    testing::DeviceReadCounter counter;
    ASSERT_TRUE(runPretrain(pretrainSetup(tinyConfig("reads")), ctx).completed);
    expectNoReads(counter, "pretrain");
  }
  PseudoLabelResult stage1;
  {
    testing::DeviceReadCounter counter;
    stage1 = obtainPseudoLabels(stage1Setup(tinyConfig("reads")), ctx);
    ASSERT_TRUE(stage1.completed);
    ASSERT_FALSE(stage1.cache_hit);
    expectNoReads(counter, "stage 1");
  }
  for (const std::string mask : {"stage2.mask=otsu", "stage2.mask=p75", "stage2.mask=oracle"}) {
    for (const std::string scope :
         {"stage2.threshold_scope=batch", "stage2.threshold_scope=epoch"}) {
      const launch::Config c = tinyConfig("reads-" + mask.substr(12) + "-" + scope.substr(23),
                                          {"stage2.method=ag-reid", mask, scope});
      testing::DeviceReadCounter counter;
      ASSERT_TRUE(runDualGuidance(launch::trainSetup(c), stage1.cache, ctx).completed);
      expectNoReads(counter, ("stage 2, " + mask + ", " + scope).c_str());
    }
  }
  // stage2.mask = oracle keeps exactly the tokens whose body region is visible in the image (the
  // synthetic world's /attributes/visibility): its precision and recall in metrics.jsonl are 1.
  if (comm_->rank() == 0) {
    std::ifstream in(path("reads-oracle-batch/metrics.jsonl"));
    int records = 0;
    double hidden = 0;
    for (std::string line; std::getline(in, line);) {
      const Json record = parseJson(line, "metrics.jsonl");
      const Json* terms = jsonMember(record, "terms");
      if (terms == nullptr || jsonMember(*terms, "mask_kept_visible") == nullptr) continue;
      const double kept = (*terms)["mask_kept_occluded"].get<double>() +
                          (*terms)["mask_kept_holistic"].get<double>();
      const double all = (*terms)["mask_tokens_occluded"].get<double>() +
                         (*terms)["mask_tokens_holistic"].get<double>();
      const double kept_visible = (*terms)["mask_kept_visible"].get<double>();
      EXPECT_NEAR(kept_visible, kept, 1e-9 * all) << line;  // precision 1
      EXPECT_NEAR(kept_visible, (*terms)["mask_tokens_visible"].get<double>(), 1e-9 * all)
          << line;  // recall 1
      hidden += all - kept;
      ++records;
    }
    EXPECT_GT(records, 0);
    EXPECT_GT(hidden, 0) << "the tiny world hid no token's region: the test shows nothing";
  }
}

// Without the per-step label check in the triplet loss, a batch of one identity (no negative)
// is refused before training starts; so is a mask that cannot be computed.
TEST_F(StageStop, Stage2RefusesImpossibleSetupsWithOneLine) {
  ASSERT_TRUE(fs::exists(path("a/clip.pt"))) << "needs the pretraining test's CLIP file";
  Log log(comm_->rank(), comm_->size(), ProgressStyle::kNone);
  int64_t polls = 0;
  StageContext ctx = context(log, &polls, -1);
  const auto stage1 = obtainPseudoLabels(stage1Setup(tinyConfig("a")), ctx);
  ASSERT_TRUE(stage1.completed);
  TrainSetup s = launch::trainSetup(tinyConfig("p1"));
  s.sampler.identities_per_batch = 1;
  expectRefused(s, stage1.cache, ctx, "data.identities_per_batch (P = 1) must be at least 2");
  EXPECT_FALSE(fs::exists(finalModelPath(path("p1"))));
  // The oracle mask needs one stored attribute per token.
  TrainSetup oracle = launch::trainSetup(
      tinyConfig("oracle-unnamed", {"stage2.method=ag-reid", "stage2.mask=oracle"}));
  oracle.stage1.token_attributes.clear();
  expectRefused(oracle, stage1.cache, ctx, "stage2.mask = oracle needs stage1.token_attributes");
}

// The counter itself: a step that reads a value is seen (the test above could fail).
TEST(DeviceReadCounter, SeesAReadInsideAStepAndNoneOutside) {
  const at::Tensor t = torch::ones({3});
  testing::DeviceReadCounter counter;
  EXPECT_EQ(t.sum().item<double>(), 3.0);  // outside a step
  {
    RECORD_USER_SCOPE("agreid::step");
    EXPECT_EQ(t.sum().item<double>(), 3.0);
    EXPECT_EQ(t.to(torch::kCPU, torch::kDouble).size(0), 3);  // a blocking copy to the host
    EXPECT_EQ(t.to(torch::kCPU, torch::kFloat, /*non_blocking=*/true).size(0), 3);  // not one
  }
  EXPECT_EQ(counter.steps(), 1);
  EXPECT_EQ(counter.readsInSteps(), 2) << ::testing::PrintToString(counter.examples());
}

}  // namespace
}  // namespace agreid::trainer
