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

template <typename Fn>
std::string inputErrorOf(Fn&& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

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
    CheckpointContents contents{&a, &adam, "[run]\nseed = 7\n", "key42", {{"bank", torch::eye(2)}}};
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
    const LoadedCheckpoint loaded = ckpt.load(ckpt.resolveResume("auto"), {&b, &adam_b});
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
    EXPECT_EQ(ckpt.resolveResume("auto"), "");  // nothing yet
    EXPECT_EQ(ckpt.resolveResume("none"), "");
    for (int64_t step : {5, 10, 15}) {
      TrainState s;
      s.step = step;
      ckpt.save(s, {});
    }
    EXPECT_FALSE(fs::exists(dir.file("checkpoint-5.pt")));
    EXPECT_TRUE(fs::exists(dir.file("checkpoint-10.pt")));
    EXPECT_TRUE(fs::exists(dir.file("checkpoint-15.pt")));
    EXPECT_EQ(ckpt.resolveResume("auto"), dir.file("checkpoint-15.pt"));
    EXPECT_EQ(ckpt.resolveResume(dir.file("checkpoint-10.pt")), dir.file("checkpoint-10.pt"));
    for (const auto& e : fs::directory_iterator(dir.path())) {
      EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
    }
    const std::string err = inputErrorOf([&] { ckpt.resolveResume(dir.file("nope.pt")); });
    expectOneLine(err);
    EXPECT_NE(err.find("nope.pt"), std::string::npos) << err;
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
    std::string err = inputErrorOf([&] { ckpt.load(path, {&wide}); });
    expectOneLine(err);
    EXPECT_NE(err.find("'fc.weight'"), std::string::npos) << err;
    EXPECT_NE(err.find("[6, 3]"), std::string::npos) << err;
    EXPECT_TRUE(torch::equal(wide.fc->weight, before));

    struct Other : torch::nn::Module {
      Other() { register_module("fc", torch::nn::Linear(3, 4)); }
    } other;
    err = inputErrorOf([&] { ckpt.load(path, {&other}); });
    expectOneLine(err);
    EXPECT_NE(err.find("'bn."), std::string::npos) << err;

    struct Bigger : Net {
      Bigger() { register_module("extra", torch::nn::Linear(2, 2)); }
    } bigger;
    err = inputErrorOf([&] { ckpt.load(path, {&bigger}); });
    expectOneLine(err);
    EXPECT_NE(err.find("missing tensor 'extra."), std::string::npos) << err;
  });
}

TEST(CheckpointerTest, CorruptFileIsAnInputError) {
  testing::TempDir dir;
  testing::writeFile(dir.file("checkpoint-1.pt"), "not a checkpoint");
  comm::runRanks(1, [&](comm::Communicator& comm) {
    Checkpointer ckpt({dir.path().string(), 0}, comm);
    const std::string err = inputErrorOf([&] { ckpt.load(dir.file("checkpoint-1.pt"), {}); });
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
    const std::string err = inputErrorOf([&] { ckpt.save(TrainState{}, {}); });
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
