// Fault injection: a rank of a 2-rank training job is killed (SIGKILL, as the OOM killer or a
// failed node would) in the middle of stage 2. The job must end -- the surviving rank must not
// wait in a collective until the 10-minute communication timeout -- with a non-zero status and
// without a final model.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "tests/support/test_support.h"

namespace agreid::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string tiny() { return std::string(AGREID_SOURCE_DIR) + "/tests/e2e/tiny.toml"; }

// Polls `done` every 200 ms for at most `limit`; returns whether it became true.
template <class Done>
bool waitFor(Done done, std::chrono::seconds limit) {
  const auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return done();
}

TEST(Fault, KilledRankEndsTheTrainingJob) {
  const std::string vocab = clipVocabPath();
  if (vocab.empty()) GTEST_SKIP() << "CLIP vocabulary not found under ../shared/clip";
  TempDir dir;
  auto r = runAgreid({"synth", "--config", tiny(), "--out", dir.file("world")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> sets = {"run.dataset=" + dir.file("world/reid.h5"),
                                   "pretrain.data=" + dir.file("world/pretrain.h5"),
                                   "pretrain.out=" + dir.file("clip.pt"),
                                   "model.weights=" + dir.file("clip.pt"),
                                   "model.vocab=" + vocab,
                                   "stage1.cache_dir=" + dir.file("cache"),
                                   "run.out_dir=" + dir.file("run"),
                                   "stage2.epochs=400",
                                   "stage2.milestones=[300]"};
  std::vector<std::string> args = {"pretrain", "--config", tiny()};
  for (const auto& s : sets) args.insert(args.end(), {"--set", s});
  r = runAgreid(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  // The job in the background; its exit status lands in rc when mpiexec returns.
  std::string cmd = "mpiexec -n 2 --oversubscribe " + shellQuote(AGREID_BINARY) + " run --config " +
                    shellQuote(tiny());
  for (const auto& s : sets) cmd += " --set " + shellQuote(s);
  const std::string log = dir.file("job.log"), rc = dir.file("rc");
  runShell("(" + cmd + " >" + shellQuote(log) + " 2>&1; echo $? >" + shellQuote(rc) +
           ") >/dev/null 2>&1 &");
  // Mid-step: stage 2 has announced itself and run for a few seconds (400 epochs take minutes).
  const bool training = waitFor(
      [&] { return readFile(log).find("stage 2 (") != std::string::npos || fs::exists(rc); },
      std::chrono::seconds(600));
  ASSERT_TRUE(training && !fs::exists(rc)) << readFile(log);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  // One of the two ranks (the `agreid run` processes of this folder, not mpiexec) is killed.
  const std::string ranks =
      "^" + std::string(AGREID_BINARY) + " run .*run.out_dir=" + dir.file("run");
  const auto pids = runShell("pgrep -f -- " + shellQuote(ranks));
  ASSERT_EQ(lineCount(pids.out), 2) << pids.out << "\n" << readFile(log);
  const std::string victim = pids.out.substr(0, pids.out.find('\n'));
  const auto killed_at = Clock::now();
  ASSERT_EQ(runShell("kill -9 " + victim).exit_code, 0);

  // The whole job ends, long before the communication timeout (10 minutes).
  const bool ended =
      waitFor([&] { return fs::exists(rc) && !readFile(rc).empty(); }, std::chrono::seconds(180));
  const double seconds = std::chrono::duration<double>(Clock::now() - killed_at).count();
  ASSERT_TRUE(ended) << "the job still runs 180 s after a rank was killed\n" << readFile(log);
  std::cout << "job ended " << seconds << " s after the kill, status " << readFile(rc);
  EXPECT_NE(readFile(rc), "0\n") << readFile(log);
  EXPECT_FALSE(fs::exists(dir.file("run/model_final.pt")));
  EXPECT_EQ(runShell("pgrep -f -- " + shellQuote(ranks)).out, "");
}

}  // namespace
}  // namespace agreid::testing
