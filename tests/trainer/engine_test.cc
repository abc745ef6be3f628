// The training engine: resume equivalence (k steps + checkpoint + a new model/optimiser/engine +
// the rest == the uninterrupted run, bit for bit on CPU, resumed mid-epoch), same seed => same
// metrics, stop requests agreed across ranks, and the checkpointer's contract.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <atomic>
#include <filesystem>
#include <regex>

#include "base/error.h"
#include "comm/thread_communicator.h"
#include "tests/support/test_support.h"
#include "trainer/engine/checkpointer.h"
#include "trainer/engine/engine.h"
#include "trainer/engine/hooks.h"
#include "trainer/engine/lr_schedule.h"
#include "trainer/engine/metrics_hook.h"
#include "trainer/engine/param_groups.h"

namespace agreid::trainer {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kStepsPerEpoch = 5;
constexpr int64_t kEpochs = 4;
constexpr int64_t kBatch = 6;

struct Toy : torch::nn::Module {
  explicit Toy(int64_t hidden = 8) {
    fc1 = register_module("fc1", torch::nn::Linear(4, hidden));
    fc2 = register_module("fc2", torch::nn::Linear(hidden, 3));
    seen = register_buffer("seen", torch::zeros({1}));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    // dropout draws from the global CPU generator, which checkpoints must restore
    return fc2(torch::dropout(torch::relu(fc1(x)), 0.2, /*train=*/true));
  }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::Tensor seen;
};

// Batch (epoch, index) of a deterministic toy data source.
std::pair<torch::Tensor, torch::Tensor> toyBatch(int64_t epoch, int64_t index) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(epoch * 1000 + index);
  return {at::randn({kBatch, 4}, gen, torch::kFloat), at::randint(3, {kBatch}, gen, torch::kLong)};
}

struct RunResult {
  RunStatus status = RunStatus::kCompleted;
  TrainState state;
  std::vector<torch::Tensor> tensors;  // parameters and buffers at the end
};

struct RunSpec {
  std::string dir;
  int64_t stop_after_steps = -1;  // request a stop once this many steps ran in this process
  std::string resume = "none";
  uint64_t seed = 1234;
};

RunResult train(comm::Communicator& comm, const RunSpec& spec) {
  torch::manual_seed(spec.seed);
  auto model = std::make_shared<Toy>();
  ParamGroupOptions pg;
  pg.lr = 1e-2;
  const auto groups = buildParamGroups(*model, pg);
  auto adam = makeAdam(groups);

  Checkpointer checkpointer({spec.dir + "/checkpoints", 2}, comm);
  auto contents = [&] {
    CheckpointContents c;
    c.model = model.get();
    c.optimizer = adam.get();
    c.config_toml = "[run]\nseed = 1234\n";
    c.cache_key = "abc123";
    c.extra["bank"] = model->seen * 2;
    return c;
  };
  TrainState state;
  const std::string resume = checkpointer.resolveResume(spec.resume).path;
  if (!resume.empty()) {
    const LoadedCheckpoint loaded = checkpointer.load(resume, contents());
    EXPECT_TRUE(loaded.rng_restored);
    EXPECT_EQ(loaded.cache_key, "abc123");
    EXPECT_TRUE(torch::equal(loaded.extra.at("bank"), model->seen * 2));
    state.step = loaded.state.step;
    state.epoch = loaded.state.epoch;
    state.batch_in_epoch = loaded.state.batch_in_epoch;
  }

  std::vector<std::unique_ptr<TrainHook>> hooks;
  WarmupMultiStepOptions sched;
  sched.warmup_epochs = 2;
  sched.milestones = {3};
  hooks.push_back(
      std::make_unique<LrScheduleHook>(*adam, baseLrs(groups), warmupMultiStepSchedule(sched)));
  hooks.push_back(
      std::make_unique<CheckpointHook>(CheckpointHookOptions{3}, checkpointer, contents));
  MetricsHookOptions mo;
  mo.log_every = 1;
  RunMetrics metrics(spec.dir, comm.rank());
  hooks.push_back(std::make_unique<MetricsHook>(
      mo, metrics, Log(comm.rank(), comm.size(), ProgressStyle::kNone)));

  int64_t steps_here = 0;
  auto step = [&](const TrainState& s) {
    auto [x, y] = toyBatch(s.epoch, s.batch_in_epoch);
    x = x + 0.01 * torch::randn_like(x);
    adam->zero_grad();
    torch::Tensor loss = torch::cross_entropy_loss(model->forward(x), y);
    loss.backward();
    adam->step();
    {
      torch::NoGradGuard no_grad;
      model->seen.add_(1);
    }
    ++steps_here;
    StepResult r;
    r.loss = loss.detach();
    r.loss_terms["ce"] = loss.detach();
    r.images = kBatch;
    return r;
  };
  auto stop = [&] { return spec.stop_after_steps >= 0 && steps_here >= spec.stop_after_steps; };
  Engine engine({kStepsPerEpoch, kEpochs}, step, std::move(hooks), stop, &comm);
  RunResult result;
  result.status = engine.run(state);
  result.state = state;
  for (const auto& p : model->parameters()) result.tensors.push_back(p.detach().clone());
  for (const auto& b : model->buffers()) result.tensors.push_back(b.detach().clone());
  return result;
}

std::vector<std::string> lossesOf(const std::string& jsonl) {
  std::vector<std::string> out;
  static const std::regex re(R"("step":(\d+),.*"loss":([^,]+),)");
  std::istringstream in(testing::readFile(jsonl));
  std::string line;
  for (std::smatch m; std::getline(in, line);) {
    if (std::regex_search(line, m, re)) out.push_back(m[1].str() + ":" + m[2].str());
  }
  return out;
}

void expectSameTensors(const RunResult& a, const RunResult& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_TRUE(torch::equal(a.tensors[i], b.tensors[i])) << "tensor " << i;
  }
}

TEST(EngineTest, ResumeMidEpochIsBitIdentical) {
  comm::runRanks(1, [](comm::Communicator& comm) {
    testing::TempDir a, b;
    const RunResult full = train(comm, {a.path().string()});
    EXPECT_EQ(full.status, RunStatus::kCompleted);
    EXPECT_EQ(full.state.step, kStepsPerEpoch * kEpochs);

    const RunResult first = train(comm, {b.path().string(), 7});
    EXPECT_EQ(first.status, RunStatus::kStopped);
    EXPECT_EQ(first.state.step, 7);
    EXPECT_EQ(first.state.epoch, 1);
    EXPECT_EQ(first.state.batch_in_epoch, 2);
    const std::string ckpt_dir = b.file("checkpoints");
    EXPECT_TRUE(fs::exists(ckpt_dir + "/checkpoint-7.pt"));
    EXPECT_TRUE(fs::exists(ckpt_dir + "/checkpoint-6.pt"));
    EXPECT_FALSE(fs::exists(ckpt_dir + "/checkpoint-3.pt"));  // keep_last = 2
    EXPECT_EQ(testing::readFile(ckpt_dir + "/latest"), "checkpoint-7.pt\n");

    // A different seed: everything that matters must come from the checkpoint.
    const RunResult second = train(comm, {b.path().string(), -1, "auto", 99});
    EXPECT_EQ(second.status, RunStatus::kCompleted);
    EXPECT_EQ(second.state.step, kStepsPerEpoch * kEpochs);
    expectSameTensors(full, second);
    EXPECT_EQ(lossesOf(a.file("metrics.jsonl")), lossesOf(b.file("metrics.jsonl")));
  });
}

TEST(EngineTest, SameSeedGivesSameMetrics) {
  comm::runRanks(1, [](comm::Communicator& comm) {
    testing::TempDir a, b;
    const RunResult ra = train(comm, {a.path().string()});
    const RunResult rb = train(comm, {b.path().string()});
    const auto la = lossesOf(a.file("metrics.jsonl"));
    EXPECT_EQ(la.size(), static_cast<size_t>(kStepsPerEpoch * kEpochs));
    EXPECT_EQ(la, lossesOf(b.file("metrics.jsonl")));
    expectSameTensors(ra, rb);
    // and the TensorBoard event file exists
    int events = 0;
    for (const auto& e : fs::directory_iterator(a.file("tensorboard"))) {
      events += e.path().filename().string().rfind("events.out.tfevents.", 0) == 0;
    }
    EXPECT_EQ(events, 1);
  });
}

TEST(EngineTest, StopRequestedOnOneRankStopsAllAtTheSameStep) {
  testing::TempDir dir;
  std::atomic<int64_t> stopped_steps[2] = {{-1}, {-1}};
  comm::runRanks(2, [&](comm::Communicator& comm) {
    int64_t steps = 0;
    auto step = [&](const TrainState&) {
      ++steps;
      return StepResult{torch::ones({}), {}, 2};
    };
    // rank 1 asks to stop once it ran 3 steps; rank 0 never does
    auto stop = [&] { return comm.rank() == 1 && steps >= 3; };
    Checkpointer checkpointer({dir.file("ckpt"), 0}, comm);
    std::vector<std::unique_ptr<TrainHook>> hooks;
    hooks.push_back(std::make_unique<CheckpointHook>(CheckpointHookOptions{0}, checkpointer,
                                                     [] { return CheckpointContents{}; }));
    Engine engine({4, 3}, step, std::move(hooks), stop, &comm);
    TrainState state;
    EXPECT_EQ(engine.run(state), RunStatus::kStopped);
    EXPECT_TRUE(state.stop_requested);
    stopped_steps[comm.rank()] = state.step;
  });
  EXPECT_EQ(stopped_steps[0], 3);
  EXPECT_EQ(stopped_steps[1], 3);
  EXPECT_TRUE(fs::exists(dir.file("ckpt/checkpoint-3.pt")));
  EXPECT_EQ(testing::readFile(dir.file("ckpt/latest")), "checkpoint-3.pt\n");
}

TEST(EngineTest, NonFiniteLossStopsAtItsStepWithoutALaterCheckpoint) {
  testing::TempDir dir;
  comm::runRanks(2, [&](comm::Communicator& comm) {
    // Term "tri" is NaN from step 5 on rank 1 only; the total is inf from step 6 on both.
    auto step = [&](const TrainState& s) {
      const int64_t n = s.step + 1;
      StepResult r;
      r.loss = torch::full({}, n >= 6 ? INFINITY : 1.0);
      r.loss_terms["id"] = torch::ones({});
      r.loss_terms["tri"] = torch::full({}, n >= 5 && comm.rank() == 1 ? NAN : 0.5);
      return r;
    };
    Checkpointer checkpointer({dir.file("ckpt"), 0}, comm);
    std::vector<std::unique_ptr<TrainHook>> hooks;
    MetricsHookOptions mo;
    mo.log_every = 4;
    RunMetrics metrics(dir.path().string(), comm.rank());
    hooks.push_back(std::make_unique<MetricsHook>(
        mo, metrics, Log(comm.rank(), comm.size(), ProgressStyle::kNone)));
    hooks.push_back(std::make_unique<CheckpointHook>(CheckpointHookOptions{3}, checkpointer,
                                                     [] { return CheckpointContents{}; }));
    EngineOptions eo{10, 2};
    eo.name = "stage 9";
    Engine engine(eo, step, std::move(hooks), {}, &comm);
    TrainState state;
    try {
      engine.run(state);
      ADD_FAILURE() << "no error for a NaN loss";
    } catch (const InputError& e) {
      EXPECT_EQ(std::string(e.what()),
                "stage 9: non-finite loss term 'tri' at step 5; training stopped without writing "
                "a model (lower the learning rate or check the data)");
    }
  });
  EXPECT_TRUE(fs::exists(dir.file("ckpt/checkpoint-3.pt")));
  EXPECT_FALSE(fs::exists(dir.file("ckpt/checkpoint-6.pt")));  // the read before it threw
  // The window read at step 4 was finite and logged; nothing after it.
  const std::string jsonl = testing::readFile(dir.file("metrics.jsonl"));
  EXPECT_EQ(testing::lineCount(jsonl), 1) << jsonl;
  EXPECT_NE(jsonl.find("\"step\":4,"), std::string::npos) << jsonl;
}

TEST(EngineTest, LoggedLossIsTheMeanOverTheWindowAndTheRanks) {
  testing::TempDir dir;
  comm::runRanks(2, [&](comm::Communicator& comm) {
    auto step = [&](const TrainState& s) {
      // rank 0: 1, 2, 3, ...; rank 1: 10x that
      const double v = static_cast<double>(s.step + 1) * (comm.rank() == 0 ? 1.0 : 10.0);
      return StepResult{torch::full({}, v), {{"half", torch::full({}, v / 2)}}, 4};
    };
    std::vector<std::unique_ptr<TrainHook>> hooks;
    MetricsHookOptions mo;
    mo.log_every = 2;
    mo.tag = "pretrain";
    RunMetrics metrics(dir.path().string(), comm.rank());
    hooks.push_back(std::make_unique<MetricsHook>(
        mo, metrics, Log(comm.rank(), comm.size(), ProgressStyle::kNone)));
    EngineOptions eo{3, 2};
    eo.max_steps = 4;  // ends within the second epoch
    Engine engine(eo, step, std::move(hooks), {}, &comm);
    TrainState state;
    EXPECT_EQ(engine.run(state), RunStatus::kCompleted);
    EXPECT_EQ(state.step, 4);
    EXPECT_EQ(state.totalSteps(), 4);
  });
  // steps 1-2: (1.5 + 15) / 2 = 8.25; step 3 was read at the epoch's end; step 4 alone: 22.
  const std::string jsonl = testing::readFile(dir.file("metrics.jsonl"));
  EXPECT_NE(jsonl.find("{\"stage\":\"pretrain\",\"step\":2,"), std::string::npos) << jsonl;
  EXPECT_NE(jsonl.find("\"loss\":8.25,"), std::string::npos) << jsonl;
  EXPECT_NE(jsonl.find("\"half\":4.125}"), std::string::npos) << jsonl;
  EXPECT_NE(jsonl.find("\"loss\":22.0,"), std::string::npos) << jsonl;
  EXPECT_EQ(testing::lineCount(jsonl), 2) << jsonl;
}

TEST(EngineTest, HookOrderAndEpochEndResume) {
  struct Recorder : TrainHook {
    explicit Recorder(std::vector<std::string>& log) : log(log) {}
    void beforeTrain(TrainState&) override { log.push_back("bt"); }
    void beforeEpoch(TrainState& s) override { log.push_back("be" + std::to_string(s.epoch)); }
    void afterStep(TrainState& s) override { log.push_back("s" + std::to_string(s.step)); }
    void afterEpoch(TrainState& s) override { log.push_back("ae" + std::to_string(s.epoch)); }
    void afterTrain(TrainState&) override { log.push_back("at"); }
    std::vector<std::string>& log;
  };
  std::vector<std::string> log;
  std::vector<std::unique_ptr<TrainHook>> hooks;
  hooks.push_back(std::make_unique<Recorder>(log));
  Engine engine(
      {2, 3},
      [](const TrainState&) {
        return StepResult{torch::zeros({}), {}, 0};
      },
      std::move(hooks));
  TrainState state;
  state.step = 2;  // resumed from a checkpoint taken after epoch 0's last step
  state.epoch = 0;
  state.batch_in_epoch = 2;
  EXPECT_EQ(engine.run(state), RunStatus::kCompleted);
  EXPECT_EQ(log, (std::vector<std::string>{"bt", "be1", "s3", "s4", "ae1", "be2", "s5", "s6", "ae2",
                                           "at"}));
}

TEST(EvalHookTest, EveryNEpochsAndAtTheEndOnce) {
  std::vector<int64_t> evaluated;
  std::vector<std::unique_ptr<TrainHook>> hooks;
  hooks.push_back(std::make_unique<EvalHook>(
      EvalHookOptions{2}, [&](const TrainState& s) { evaluated.push_back(s.epoch); }));
  Engine engine(
      {1, 4},
      [](const TrainState&) {
        return StepResult{torch::zeros({}), {}, 0};
      },
      std::move(hooks));
  TrainState state;
  engine.run(state);
  EXPECT_EQ(evaluated, (std::vector<int64_t>{1, 3}));
}

}  // namespace
}  // namespace agreid::trainer
