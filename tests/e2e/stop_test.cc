// Stop requests on the real command: `agreid pretrain` under mpiexec -n 2 given SIGUSR1 (as
// SLURM's pre-emption warning arrives) and a 1-rank run given SIGTERM both stop after an agreed
// step, exit 75 with a checkpoint, and write no clip.pt; the next start resumes from it.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/e2e/tiny_world.h"

namespace agreid::testing {
namespace {

namespace fs = std::filesystem;

class StopRequest : public TinyWorld {
 protected:
  // Starts `launcher agreid pretrain` in the background (far more steps than it can run), sends
  // `signal` to the launcher once it appended a metrics line, and waits for it.
  CommandResult pretrainAndSignal(const std::string& launcher, const std::string& signal) {
    std::string cmd =
        launcher + " " + shellQuote(AGREID_BINARY) + " pretrain --config " + shellQuote(config());
    for (const std::string& s :
         {"run.out_dir=" + dir_.file("run"), "pretrain.data=" + dir_.file("world/pretrain.h5"),
          "model.vocab=" + vocab_, std::string("pretrain.steps=1000000"),
          std::string("run.log_every=1"), std::string("checkpoint.every_steps=100000")}) {
      cmd += " --set " + shellQuote(s);
    }
    const std::string lines =
        "$(cat " + shellQuote(dir_.file("run/metrics.jsonl")) + " 2>/dev/null | wc -l)";
    return runShell("n=" + lines + "; " + cmd + " & pid=$!; i=0; while [ " + lines +
                    " -le $n ] && [ $i -lt 600 ]; do sleep 0.2; i=$((i+1)); done; kill -" + signal +
                    " $pid; wait $pid");
  }

  std::string checkpoints() const { return dir_.file("run/checkpoints/pretrain"); }
};

TEST_F(StopRequest, Sigusr1ToMpiexecStopsBothRanksWithACheckpointAndNoClip) {
  auto r = pretrainAndSignal("mpiexec -n 2 --oversubscribe", "USR1");
  EXPECT_EQ(r.exit_code, 75) << r.out << r.err;
  EXPECT_NE(r.out.find("pretraining stopped on request (signal 10)"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(checkpoints() + "/latest"));
  EXPECT_FALSE(fs::exists(dir_.file("run/clip.pt")));
  EXPECT_FALSE(fs::exists(dir_.file("run/pretrain.json")));

  // The next start resumes from that checkpoint (and is stopped again).
  r = pretrainAndSignal("mpiexec -n 2 --oversubscribe", "USR1");
  EXPECT_EQ(r.exit_code, 75) << r.out << r.err;
  EXPECT_NE(r.out.find("pretrain: resumed from " + checkpoints() + "/checkpoint-"),
            std::string::npos)
      << r.out;
  EXPECT_FALSE(fs::exists(dir_.file("run/clip.pt")));
}

TEST_F(StopRequest, SigtermToOneRankStopsWithACheckpointAndNoClip) {
  const auto r = pretrainAndSignal("", "TERM");
  EXPECT_EQ(r.exit_code, 75) << r.out << r.err;
  EXPECT_NE(r.out.find("pretraining stopped on request (signal 15)"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(checkpoints() + "/latest"));
  EXPECT_FALSE(fs::exists(dir_.file("run/clip.pt")));
}

}  // namespace
}  // namespace agreid::testing
