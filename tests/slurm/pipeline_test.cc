// The real pipeline (`agreid run`: pseudo-label -> train -> eval) through the sbatch scripts on the
// local SLURM cluster, on a tiny synthetic world (tests/slurm/tiny.toml):
//   - train.sbatch with 2 tasks via srun --mpi=pmix completes and writes results.json;
//   - pre-emption: SIGUSR1 to the batch shell mid-training -> checkpoint, exit 75, requeue,
//     resume; the final parameters equal those of an uninterrupted run, tensor for tensor;
//   - the same for pretraining through pretrain.sbatch: the resumed run's clip.pt equals the
//     uninterrupted one's;
//   - a 3-point `agreid sweep --submit`: one array job, 3 tasks complete, the pseudo-label cache
//     is computed once (the other points log a cache hit), `agreid sweep collect` prints 3 rows.
// The world and a tiny pretrained CLIP are made once per test binary, outside SLURM.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <regex>
#include <thread>

#include "tests/slurm/slurm_support.h"
#include "tests/support/test_support.h"
#include "trainer/model/clip_checkpoint.h"
#include "trainer/model/clip_model.h"

namespace agreid::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

const std::string kTiny = std::string(AGREID_SOURCE_DIR) + "/tests/slurm/tiny.toml";

class SlurmPipeline : public SlurmClusterTest {
 public:
  static void SetUpTestSuite() {
    SlurmClusterTest::SetUpTestSuite();
    world_ = std::make_unique<TempDir>();
    have_run_ = runAgreid({"run", "--help"}).exit_code == 0;
    if (!have_run_ || clipVocabPath().empty()) return;
    const std::string w = world_->path().string();
    const CommandResult synth = runAgreid({"synth", "--config", kTiny, "--out", w + "/world"});
    fs::create_directories(w + "/clip");
    const CommandResult pre = runAgreid(
        {"pretrain", "--config", kTiny, "--set", "pretrain.data=" + w + "/world/pretrain.h5",
         "--set", "model.vocab=" + clipVocabPath(), "--set", "run.out_dir=" + w + "/clip"});
    setup_error_ = synth.exit_code != 0 ? "agreid synth: " + synth.err
                   : pre.exit_code != 0 ? "agreid pretrain: " + pre.err
                                        : "";
  }
  static void TearDownTestSuite() {
    world_.reset();
    SlurmClusterTest::TearDownTestSuite();
  }

 protected:
  void SetUp() override {
    SlurmClusterTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (!have_run_) GTEST_SKIP() << "this build has no `agreid run` command";
    if (clipVocabPath().empty()) {
      GTEST_SKIP() << "CLIP vocabulary not found (../shared/clip/bpe_simple_vocab_16e6.txt.gz)";
    }
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  }

  // The --set words that point tiny.toml at the world and the CLIP.
  static std::vector<std::string> worldSets() {
    const std::string w = world_->path().string();
    return {"run.dataset=" + w + "/world/reid.h5", "model.weights=" + w + "/clip/clip.pt",
            "model.vocab=" + clipVocabPath()};
  }
  static std::string setArgs(const std::vector<std::string>& sets) {
    std::string out;
    for (const auto& s : sets) out += " --set " + shellQuote(s);
    return out;
  }
  // sbatch options for 2 ranks on the CPU-only test node.
  static std::string twoRanks(const std::string& log) {
    return "--gpus-per-task=0 --ntasks-per-node=2 --cpus-per-task=1 --output=" + shellQuote(log);
  }
  static std::string agreidEnv() { return "AGREID_BIN=" + shellQuote(AGREID_BINARY); }

  // Submits `script` twice with `args(name)` (run.out_dir = dir/name): "ref" runs uninterrupted,
  // "run" gets SIGUSR1 (scancel --batch) once `latest` (a path under dir/run) exists and before
  // `final_output` does; waits for both and checks they completed, the second after one requeue.
  // Returns the second job's log (callers check HasFatalFailure()).
  static std::string preemptOnce(const TempDir& dir, const std::string& script,
                                 const std::function<std::string(const std::string&)>& args,
                                 const std::string& latest, const std::string& final_output) {
    const std::string reference =
        submit(twoRanks(dir.file("ref.out")) + " " + script + " " + shellQuote(kTiny) + args("ref"),
               agreidEnv());
    const std::string job =
        submit(twoRanks(dir.file("job.out")) + " " + script + " " + shellQuote(kTiny) + args("run"),
               agreidEnv());
    EXPECT_FALSE(reference.empty());
    EXPECT_FALSE(job.empty());
    if (reference.empty() || job.empty()) return "";
    const auto deadline = std::chrono::steady_clock::now() + seconds(300);
    while (!fs::exists(latest) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    const std::string ready = fs::exists(latest) && !fs::exists(final_output) ? "" : "not ready";
    EXPECT_EQ(ready, "") << "no checkpoint yet, or training ended before the signal\n"
                         << readFile(dir.file("job.out"));
    const CommandResult sig = runShell("scancel --signal=USR1 --batch " + job);
    EXPECT_EQ(sig.exit_code, 0) << sig.err;
    const JobOutcome out = waitForJob(job, seconds(600));
    const JobOutcome ref = waitForJob(reference, seconds(600));
    const std::string log = readFile(dir.file("job.out"));
    EXPECT_EQ(out.state, "COMPLETED") << log;
    EXPECT_EQ(ref.state, "COMPLETED") << readFile(dir.file("ref.out"));
    EXPECT_EQ(out.restarts, 1) << log;
    EXPECT_NE(log.find("requeueing job " + job), std::string::npos) << log;
    return log;
  }

  static std::unique_ptr<TempDir> world_;
  static bool have_run_;
  static std::string setup_error_;
};

std::unique_ptr<TempDir> SlurmPipeline::world_;
bool SlurmPipeline::have_run_ = false;
std::string SlurmPipeline::setup_error_;

TEST_F(SlurmPipeline, TrainSbatchTwoRanksWritesResults) {
  TempDir dir;
  std::vector<std::string> sets = worldSets();
  sets.push_back("run.out_dir=" + dir.file("run"));
  const std::string job = submit(
      twoRanks(dir.file("job.out")) + " slurm/train.sbatch " + shellQuote(kTiny) + setArgs(sets),
      agreidEnv());
  ASSERT_FALSE(job.empty());
  const JobOutcome out = waitForJob(job, seconds(600));
  const std::string log = readFile(dir.file("job.out"));
  ASSERT_EQ(out.state, "COMPLETED") << log;
  EXPECT_EQ(out.restarts, 0);
  const std::string results = readFile(dir.file("run/results.json"));
  EXPECT_NE(results.find("\"mAP\":"), std::string::npos) << results;
  EXPECT_NE(log.find("srun --mpi=pmix"), std::string::npos) << log;
  EXPECT_NE(log.find("on 2 ranks"), std::string::npos) << log;
  EXPECT_NE(log.find("pseudo-label cache miss"), std::string::npos) << log;
  // Progress inside a SLURM job is plain lines, never a bar redrawn with carriage returns.
  EXPECT_EQ(log.find('\r'), std::string::npos) << log;
}

std::map<std::string, at::Tensor> finalTensors(const std::string& run_dir) {
  return trainer::readCheckpointTensors(run_dir + "/model_final.pt");
}

TEST_F(SlurmPipeline, PreemptedRunResumesToTheUninterruptedParameters) {
  TempDir dir;
  // Long enough to be interrupted mid-training: 40 epochs x 5 steps, a checkpoint every 2 steps.
  std::vector<std::string> sets = worldSets();
  sets.push_back("stage2.epochs=40");
  sets.push_back("stage2.milestones=[20]");
  auto with_out = [&](const std::string& name) {
    auto s = sets;
    s.push_back("run.out_dir=" + dir.file(name));
    return setArgs(s);
  };
  const std::string log =
      preemptOnce(dir, "slurm/train.sbatch", with_out, dir.file("run/checkpoints/latest"),
                  dir.file("run/model_final.pt"));
  ASSERT_FALSE(HasFailure()) << log;
  EXPECT_NE(log.find("job step exited with"), std::string::npos) << log;
  // The second run read the pseudo-labels back and continued training from the checkpoint.
  EXPECT_NE(log.find("pseudo-label cache hit"), std::string::npos) << log;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(log, m, std::regex("resumed from \\S+ at step (\\d+)"))) << log;
  EXPECT_GT(std::stoi(m[1].str()), 0) << log;
  EXPECT_LT(std::stoi(m[1].str()), 200) << log;

  const auto a = finalTensors(dir.file("run"));
  const auto b = finalTensors(dir.file("ref"));
  ASSERT_EQ(a.size(), b.size());
  ASSERT_GT(a.size(), 10u);
  for (const auto& [name, t] : a) {
    ASSERT_EQ(b.count(name), 1u) << name;
    EXPECT_TRUE(at::equal(t, b.at(name))) << name << " differs after resume";
  }
  EXPECT_EQ(readFile(dir.file("run/results.json")), readFile(dir.file("ref/results.json")));
}

TEST_F(SlurmPipeline, PreemptedPretrainingResumesToTheUninterruptedClip) {
  TempDir dir;
  const std::string w = world_->path().string();
  auto sets = [&](const std::string& name) {
    return setArgs({"pretrain.data=" + w + "/world/pretrain.h5", "model.vocab=" + clipVocabPath(),
                    "pretrain.steps=240", "run.out_dir=" + dir.file(name)});
  };
  const std::string log =
      preemptOnce(dir, "slurm/pretrain.sbatch", sets, dir.file("run/checkpoints/pretrain/latest"),
                  dir.file("run/clip.pt"));
  ASSERT_FALSE(HasFailure()) << log;
  EXPECT_NE(log.find("pretraining stopped on request (signal 10)"), std::string::npos) << log;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(log, m, std::regex("pretrain: resumed from \\S+ at step (\\d+)")))
      << log;
  EXPECT_GT(std::stoi(m[1].str()), 0) << log;
  EXPECT_LT(std::stoi(m[1].str()), 240) << log;

  const auto a = trainer::loadClip(dir.file("run/clip.pt"))->named_parameters(true);
  const auto b = trainer::loadClip(dir.file("ref/clip.pt"))->named_parameters(true);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& item : a) {
    EXPECT_TRUE(at::equal(item.value(), b[item.key()])) << item.key() << " differs after resume";
  }
}

TEST_F(SlurmPipeline, SweepOfThreePointsSharesOneCacheAndCollects) {
  TempDir dir;
  std::string set_list;
  for (const auto& s : worldSets()) set_list += (set_list.empty() ? "" : ", ") + ("\"" + s + "\"");
  const std::string spec = dir.file("lr.toml");
  writeFile(spec, "[sweep]\nbase_config = \"" + kTiny + "\"\ndir = \"" + dir.file("sw") +
                      "\"\nmax_parallel = 3\nmetric = \"mAP\"\n"
                      "sbatch = [\"--gpus-per-task=0\", \"--cpus-per-task=1\"]\nset = [" +
                      set_list + "]\n[grid]\n\"stage2.lr\" = [5e-6, 1e-5, 2e-5]\n");
  const CommandResult sub =
      inSourceTree(shellQuote(AGREID_BINARY) + " sweep " + shellQuote(spec) + " --submit");
  ASSERT_EQ(sub.exit_code, 0) << sub.err;
  const std::string job = sub.out.substr(0, sub.out.find('\n'));
  ASSERT_FALSE(job.empty());
  // Wait until no task of the array is pending or running.
  const auto deadline = std::chrono::steady_clock::now() + seconds(900);
  while (!runShell("squeue -h -r -j " + job).out.empty() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  std::string logs;
  for (int i = 0; i < 3; ++i)
    logs += readFile(dir.file("sw/logs/" + job + "_" + std::to_string(i) + ".out"));
  const std::string states = runShell("scontrol show job " + job).out;
  int completed = 0;
  const std::regex state_re("JobState=(\\S+)");
  for (auto it = std::sregex_iterator(states.begin(), states.end(), state_re);
       it != std::sregex_iterator(); ++it) {
    completed += (*it)[1].str() == "COMPLETED";
  }
  ASSERT_EQ(completed, 3) << states << logs;

  int hits = 0, misses = 0;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(readFile(dir.file("sw/status/" + std::to_string(i))), "0\n");
    const std::string pl =
        readFile(dir.file("sw/runs/00" + std::to_string(i) + "/pseudo_label.json"));
    hits += pl.find("\"cache_hit\": true") != std::string::npos;
    misses += pl.find("\"cache_hit\": false") != std::string::npos;
    // Every point used the sweep's shared cache folder.
    EXPECT_NE(pl.find(dir.file("sw/cache/pseudo-labels-")), std::string::npos) << pl;
  }
  EXPECT_EQ(misses, 1) << logs;
  EXPECT_EQ(hits, 2) << logs;
  int logged_hits = 0;
  for (size_t p = logs.find("pseudo-label cache hit"); p != std::string::npos;
       p = logs.find("pseudo-label cache hit", p + 1)) {
    ++logged_hits;
  }
  EXPECT_EQ(logged_hits, 2) << logs;

  const CommandResult collect = runAgreid({"sweep", "collect", dir.file("sw")});
  ASSERT_EQ(collect.exit_code, 0) << collect.err;
  EXPECT_EQ(lineCount(collect.out), 2 + 3) << collect.out;  // header, rule, 3 points
  int ok_rows = 0;
  for (size_t p = collect.out.find("| ok |"); p != std::string::npos;
       p = collect.out.find("| ok |", p + 1)) {
    ++ok_rows;
  }
  EXPECT_EQ(ok_rows, 3) << collect.out;
  EXPECT_NE(collect.out.find("| rank | point | status | stage2.lr | mAP |"), std::string::npos)
      << collect.out;
  EXPECT_NE(collect.err.find("3 of 3 points have results; sorted by mAP (max)"), std::string::npos)
      << collect.err;
}

// --local: the same sweep folder and points without SLURM, one `agreid run` after another (here
// each on 2 MPI ranks); a second --local skips the finished points.
TEST_F(SlurmPipeline, SweepLocalRunsPointsWithoutSlurm) {
  TempDir dir;
  std::string set_list;
  for (const auto& s : worldSets()) set_list += (set_list.empty() ? "" : ", ") + ("\"" + s + "\"");
  const std::string spec = dir.file("beta.toml");
  writeFile(spec, "[sweep]\nbase_config = \"" + kTiny + "\"\ndir = \"" + dir.file("sw") +
                      "\"\nset = [" + set_list + "]\n[grid]\n\"stage2.beta\" = [0.0, 0.1]\n");
  const CommandResult first = runAgreid({"sweep", spec, "--local", "--ranks", "2"});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_NE(readFile(dir.file("sw/logs/local_0.out")).find("[rank 0/2]"), std::string::npos);
  EXPECT_NE(first.out.find("point 1 (2 of 2): ok"), std::string::npos) << first.out;
  EXPECT_NE(readFile(dir.file("sw/logs/local_0.out")).find("pseudo-label cache miss"),
            std::string::npos);
  EXPECT_NE(readFile(dir.file("sw/logs/local_1.out")).find("pseudo-label cache hit"),
            std::string::npos);
  const CommandResult again = runAgreid({"sweep", spec, "--local"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("point 0 (1 of 2): done before, skipped"), std::string::npos)
      << again.out;
  const CommandResult collect = runAgreid({"sweep", "collect", dir.file("sw")});
  ASSERT_EQ(collect.exit_code, 0) << collect.err;
  EXPECT_NE(collect.err.find("2 of 2 points have results"), std::string::npos) << collect.err;
}

}  // namespace
}  // namespace agreid::testing
