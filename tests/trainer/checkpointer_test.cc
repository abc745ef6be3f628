// Checkpointer: round trip of every part, the resume rules, and bad input (another architecture,
// a corrupt file, an unwritable folder) failing with one line that names the problem.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "base/error.h"
#include "comm/thread_communicator.h"
#include "tests/support/test_support.h"
#include "trainer/engine/checkpointer.h"

namespace agreid::trainer {
namespace {

namespace fs = std::filesystem;

struct Net : torch::nn::Module {
  explicit Net(int64_t hidden = 4) {
    fc = register_module("fc", torch::nn::Linear(3, hidden));
    bn = register_module("bn", torch::nn::BatchNorm1d(hidden));
  }
  torch::nn::Linear fc{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
};

void expectOneLine(const std::string& message) {
  EXPECT_FALSE(message.empty());
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST(CheckpointerTest, RoundTripsEveryPart) {
  testing::TempDir dir;
  comm::runRanks(1, [&](comm::Communicator& comm) {
    torch::manual_seed(3);
    Net a;
    torch::optim::Adam adam(a.parameters(), torch::optim::AdamOptions(0.1));
    {
      auto out = a.bn(a.fc(torch::randn({5, 3})));
      out.sum().backward();
      adam.step();
    }
    Checkpointer ckpt({dir.path().string(), 3}, comm);
    CheckpointContents contents{&a,      &adam, "[run]\nseed = 7\n",
                                "key42", 0,     {{"bank", torch::eye(2)}}};
    TrainState state;
    state.step = 11;
    state.epoch = 2;
    state.batch_in_epoch = 1;
    const std::string path = ckpt.save(state, contents);
    EXPECT_EQ(path, dir.file("checkpoint-11.pt"));
    const at::Tensor expected_draw = torch::rand({4});  // the RNG continues from the saved state

    torch::manual_seed(100);
    Net b;
    torch::optim::Adam adam_b(b.parameters(), torch::optim::AdamOptions(0.5));
    const LoadedCheckpoint loaded = ckpt.load(ckpt.resolveResume("auto").path, {&b, &adam_b});
    EXPECT_EQ(loaded.state.step, 11);
    EXPECT_EQ(loaded.state.epoch, 2);
    EXPECT_EQ(loaded.state.batch_in_epoch, 1);
    EXPECT_EQ(loaded.config_toml, "[run]\nseed = 7\n");
    EXPECT_EQ(loaded.cache_key, "key42");
    EXPECT_TRUE(torch::equal(loaded.extra.at("bank"), torch::eye(2)));
    EXPECT_TRUE(loaded.rng_restored);
    EXPECT_TRUE(torch::equal(torch::rand({4}), expected_draw));
    const auto pa = a.named_parameters(), pb = b.named_parameters();
    for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
    EXPECT_TRUE(torch::equal(a.bn->running_mean, b.bn->running_mean));
    EXPECT_DOUBLE_EQ(adam_b.param_groups()[0].options().get_lr(), 0.1);
    // the optimiser's moments came back: one more identical step keeps the models identical
    for (Net* net : {&a, &b}) {
      for (auto& p : net->parameters()) p.mutable_grad() = torch::ones_like(p);
    }
    adam.step();
    adam_b.step();
    for (const auto& p : a.named_parameters()) {
      EXPECT_TRUE(torch::equal(p.value(), b.named_parameters()[p.key()])) << p.key();
    }
  });
}

TEST(CheckpointerTest, KeepsTheLastNAndResolvesResume) {
  testing::TempDir dir;
  comm::runRanks(1, [&](comm::Communicator& comm) {
    Checkpointer ckpt({dir.path().string(), 2}, comm);
    EXPECT_EQ(ckpt.resolveResume("auto").path, "");  // nothing yet
    EXPECT_EQ(ckpt.resolveResume("none").path, "");
    for (int64_t step : {5, 10, 15}) {
      TrainState s;
      s.step = step;
      ckpt.save(s, {});
    }
    EXPECT_FALSE(fs::exists(dir.file("checkpoint-5.pt")));
    EXPECT_TRUE(fs::exists(dir.file("checkpoint-10.pt")));
    EXPECT_TRUE(fs::exists(dir.file("checkpoint-15.pt")));
    EXPECT_EQ(ckpt.resolveResume("auto").path, dir.file("checkpoint-15.pt"));
    EXPECT_TRUE(ckpt.resolveResume("auto").notes.empty());
    EXPECT_EQ(ckpt.resolveResume(dir.file("checkpoint-10.pt")).path, dir.file("checkpoint-10.pt"));
    for (const auto& e : fs::directory_iterator(dir.path())) {
      EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
    }
    const std::string err = testing::inputErrorOf([&] { ckpt.resolveResume(dir.file("nope.pt")); });
    expectOneLine(err);
    EXPECT_NE(err.find("nope.pt"), std::string::npos) << err;
  });
}

TEST(CheckpointerTest, KeepLastZeroKeepsEveryCheckpoint) {
  testing::TempDir dir;
  comm::runRanks(1, [&](comm::Communicator& comm) {
    Checkpointer ckpt({dir.path().string(), 0}, comm);
    for (int64_t step : {5, 10, 15, 20}) {
      TrainState s;
      s.step = step;
      ckpt.save(s, {});
    }
    for (int64_t step : {5, 10, 15, 20}) {
      EXPECT_TRUE(fs::exists(dir.file("checkpoint-" + std::to_string(step) + ".pt"))) << step;
    }
  });
}

TEST(CheckpointerTest, ResumeStaysInsideTheRunFolder) {
  testing::TempDir dir;
  comm::runRanks(1, [&](comm::Communicator& comm) {
    Checkpointer other({dir.file("other"), 0}, comm);
    Checkpointer ckpt({dir.file("run"), 0}, comm);
    TrainState s;
    s.step = 4;
    const std::string foreign = other.save(s, {});
    ckpt.save(s, {});

    // Another run's checkpoint: refused, pointing at --init-from.
    std::string err = testing::inputErrorOf([&] { ckpt.resolveResume(foreign); });
    expectOneLine(err);
    EXPECT_EQ(err, "checkpoint.resume: " + foreign + " is not a checkpoint of this run (" +
                       dir.file("run") + "); to start a new run from its weights use --init-from " +
                       foreign);

    // A `latest` naming a file outside the folder: refused.
    testing::writeFile(dir.file("run/latest"), "../other/checkpoint-4.pt\n");
    err = testing::inputErrorOf([&] { ckpt.resolveResume("auto"); });
    expectOneLine(err);
    EXPECT_EQ(err, dir.file("run/latest") +
                       ": names '../other/checkpoint-4.pt', which is not a checkpoint file of " +
                       dir.file("run") + " (expected checkpoint-<step>.pt)");
  });
}

TEST(CheckpointerTest, MissingOrDamagedLatestFallsBackToTheNewestCompleteCheckpoint) {
  testing::TempDir dir;
  comm::runRanks(1, [&](comm::Communicator& comm) {
    Checkpointer ckpt({dir.path().string(), 0}, comm);
    CheckpointContents contents;
    contents.extra["ones"] = torch::ones({256});  // tensor bytes to corrupt below
    for (int64_t step : {3, 6, 9}) {
      TrainState s;
      s.step = step;
      ckpt.save(s, contents);
    }
    // No `latest`: the newest complete checkpoint, and a note saying so.
    fs::remove(dir.file("latest"));
    ResumeChoice c = ckpt.resolveResume("auto");
    EXPECT_EQ(c.path, dir.file("checkpoint-9.pt"));
    ASSERT_EQ(c.notes.size(), 2u);
    EXPECT_EQ(c.notes[0], dir.path().string() + " has checkpoints but no 'latest' file");
    EXPECT_EQ(c.notes[1],
              "resuming from the newest complete checkpoint " + dir.file("checkpoint-9.pt"));

    // `latest` names a file whose tensor bytes changed (a float 1.0 becomes 3.0; the zip entry's
    // CRC-32 no longer matches): the previous complete one.
    testing::writeFile(dir.file("latest"), "checkpoint-9.pt\n");
    std::string bytes = testing::readFile(dir.file("checkpoint-9.pt"));
    const std::string one("\x00\x00\x80\x3f\x00\x00\x80\x3f", 8);
    const size_t at = bytes.find(one);
    ASSERT_NE(at, std::string::npos);
    bytes[at + 3] = '\x40';
    testing::writeFile(dir.file("checkpoint-9.pt"), bytes);
    c = ckpt.resolveResume("auto");
    EXPECT_EQ(c.path, dir.file("checkpoint-6.pt"));
    ASSERT_EQ(c.notes.size(), 2u);
    EXPECT_EQ(c.notes[0].rfind(dir.file("latest") + " names checkpoint-9.pt, but ", 0), 0u)
        << c.notes[0];
    EXPECT_NE(c.notes[0].find("CRC"), std::string::npos) << c.notes[0];
    // Named explicitly, the damaged checkpoint is refused.
    const std::string damaged =
        testing::inputErrorOf([&] { ckpt.resolveResume(dir.file("checkpoint-9.pt")); });
    expectOneLine(damaged);
    EXPECT_EQ(damaged.rfind("checkpoint.resume: ", 0), 0u) << damaged;
    EXPECT_EQ(c.notes[1],
              "resuming from the newest complete checkpoint " + dir.file("checkpoint-6.pt"));

    // Every one damaged: refused.
    for (int64_t step : {3, 6}) {
      const std::string f = dir.file("checkpoint-" + std::to_string(step) + ".pt");
      fs::resize_file(f, fs::file_size(f) / 2);
    }
    const std::string err = testing::inputErrorOf([&] { ckpt.resolveResume("auto"); });
    expectOneLine(err);
    EXPECT_EQ(err.rfind(dir.path().string() + ": no complete checkpoint to resume from (", 0), 0u)
        << err;
  });
}

TEST(CheckpointerTest, AnotherArchitectureNamesTheTensorAndChangesNothing) {
  testing::TempDir dir;
  comm::runRanks(1, [&](comm::Communicator& comm) {
    Net small(4);
    Checkpointer ckpt({dir.path().string(), 0}, comm);
    const std::string path = ckpt.save(TrainState{}, {&small});

    Net wide(6);
    const at::Tensor before = wide.fc->weight.clone();
    std::string err = testing::inputErrorOf([&] { ckpt.load(path, {&wide}); });
    expectOneLine(err);
    EXPECT_NE(err.find("'fc.weight'"), std::string::npos) << err;
    EXPECT_NE(err.find("[6, 3]"), std::string::npos) << err;
    EXPECT_TRUE(torch::equal(wide.fc->weight, before));

    struct Other : torch::nn::Module {
      Other() { register_module("fc", torch::nn::Linear(3, 4)); }
    } other;
    err = testing::inputErrorOf([&] { ckpt.load(path, {&other}); });
    expectOneLine(err);
    EXPECT_NE(err.find("'bn."), std::string::npos) << err;

    struct Bigger : Net {
      Bigger() { register_module("extra", torch::nn::Linear(2, 2)); }
    } bigger;
    err = testing::inputErrorOf([&] { ckpt.load(path, {&bigger}); });
    expectOneLine(err);
    EXPECT_NE(err.find("missing tensor 'extra."), std::string::npos) << err;
  });
}

TEST(CheckpointerTest, CorruptFileIsAnInputError) {
  testing::TempDir dir;
  testing::writeFile(dir.file("checkpoint-1.pt"), "not a checkpoint");
  comm::runRanks(1, [&](comm::Communicator& comm) {
    Checkpointer ckpt({dir.path().string(), 0}, comm);
    const std::string err =
        testing::inputErrorOf([&] { ckpt.load(dir.file("checkpoint-1.pt"), {}); });
    expectOneLine(err);
    EXPECT_NE(err.find("checkpoint-1.pt"), std::string::npos) << err;
  });
}

TEST(CheckpointerTest, UnwritableFolderFailsOnEveryRankWithoutPartialFiles) {
  testing::TempDir dir;
  testing::writeFile(dir.file("blocker"), "a file where the folder should be");
  std::atomic<int> failures{0};
  comm::runRanks(2, [&](comm::Communicator& comm) {
    Checkpointer ckpt({dir.file("blocker") + "/ckpt", 0}, comm);
    const std::string err = testing::inputErrorOf([&] { ckpt.save(TrainState{}, {}); });
    expectOneLine(err);
    if (!err.empty()) ++failures;
  });
  EXPECT_EQ(failures.load(), 2);
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir.path()))
    entries += e.path() != dir.file("blocker");
  EXPECT_EQ(entries, 0);
}

}  // namespace
}  // namespace agreid::trainer
