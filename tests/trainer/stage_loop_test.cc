// runStageLoop's resume refusals: a checkpoint of another world size or global batch, and the
// configuration check launch/ installs; --init-from loads weights only.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "base/error.h"
#include "base/log.h"
#include "comm/thread_communicator.h"
#include "tests/support/test_support.h"
#include "trainer/stages/stage_loop.h"

namespace agreid::trainer {
namespace {

struct Loop {
  std::string dir;
  int64_t global_batch = 8;
  ResumeGuards guards;
  std::string init_from;
  std::string resume = "auto";
};

// Trains a 2x2 linear layer for 4 steps with a checkpoint every 2; returns its weight.
at::Tensor train(comm::Communicator& comm, const Loop& loop) {
  torch::manual_seed(3);
  torch::nn::Linear model(2, 2);
  torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(0.1));
  StageParts parts;
  parts.engine.steps_per_epoch = 4;
  parts.engine.max_epochs = 1;
  parts.step = [&](const TrainState&) {
    const at::Tensor loss = model->forward(torch::ones({1, 2})).pow(2).sum();
    sgd.zero_grad();
    loss.backward();
    sgd.step();
    return StepResult{loss.detach(), {}, loop.global_batch};
  };
  parts.contents = modelAndOptimizer(*model, sgd);
  CheckpointOptions checkpoint;
  checkpoint.every_steps = 2;
  checkpoint.resume = loop.resume;
  StageLoopOptions opts =
      stageLoopOptions("toy", loop.dir, checkpoint, 0, "[run]\nseed = 1\n", loop.guards);
  opts.global_batch = loop.global_batch;
  opts.init_from = loop.init_from;
  Log log(comm.rank(), comm.size(), ProgressStyle::kNone);
  StageContext ctx{comm, log};
  RunMetrics metrics("", comm.rank());
  runStageLoop(opts, std::move(parts), metrics, ctx);
  return model->weight.detach().clone();
}

TEST(StageLoopTest, ResumeRefusesAnotherWorldSizeOrGlobalBatch) {
  testing::TempDir dir;
  const std::string ckpt = dir.file("checkpoint-4.pt");
  comm::runRanks(2, [&](comm::Communicator& comm) { train(comm, {dir.path().string()}); });
  comm::runRanks(1, [&](comm::Communicator& comm) {
    EXPECT_EQ(testing::inputErrorOf([&] { train(comm, {dir.path().string()}); }),
              ckpt +
                  ": checkpoint was written by 2 ranks, this run has 1; resume with the same "
                  "number of ranks (or checkpoint.resume = \"none\")");
  });
  testing::TempDir one;
  comm::runRanks(1, [&](comm::Communicator& comm) {
    train(comm, {one.path().string()});
    Loop loop{one.path().string(), 16};
    EXPECT_EQ(testing::inputErrorOf([&] { train(comm, loop); }),
              one.file("checkpoint-4.pt") +
                  ": checkpoint was trained with a global batch of 8, this run uses 16; resume "
                  "with the same batch (or checkpoint.resume = \"none\")");
    // The configuration check sees the checkpoint and its recorded configuration.
    loop.global_batch = 8;
    loop.guards.check_config = [](const std::string& path, const std::string& toml) {
      throw InputError(path + " recorded " + toml.substr(0, 5));
    };
    EXPECT_EQ(testing::inputErrorOf([&] { train(comm, loop); }),
              one.file("checkpoint-4.pt") + " recorded [run]");
  });
}

TEST(StageLoopTest, InitFromLoadsTheWeightsOfAnotherRunAndTrainsAllSteps) {
  testing::TempDir a, b;
  comm::runRanks(1, [&](comm::Communicator& comm) {
    const at::Tensor trained = train(comm, {a.path().string()});
    Loop loop{b.path().string()};
    loop.init_from = a.file("checkpoint-4.pt");
    const at::Tensor continued = train(comm, loop);
    // 4 more steps from the trained weights: not the trained weights, and a full run's steps.
    EXPECT_FALSE(torch::equal(continued, trained));
    EXPECT_TRUE(std::filesystem::exists(b.file("checkpoint-4.pt")));
  });
}

}  // namespace
}  // namespace agreid::trainer
