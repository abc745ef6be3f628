// model_bench: forward+backward throughput of the ViT-B/16 re-ID model (256x128, fp32, random
// init) in agreid against the same architecture in PyTorch (bench/model_reference.py), measured
// in the same run with the same thread count. The two sides alternate for --rounds rounds (so a
// burst of load on a shared machine hits both); each round times --iters steps after a warm-up.
// Reported per side: the fastest step, the mean step and the mean process CPU time of a step.
//
//   model_bench [--iters N] [--rounds R] [--batch B] [--threads T] [--stride S] [--no-reference]
//               [--no-onednn]
// --no-onednn turns LibTorch's oneDNN off (at::Context::setUserEnabledMkldnn), so agreid's linear
// layers use addmm like the peer: it isolates the gain of the oneDNN path (docs/model.md).
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "trainer/model/reid_model.h"

namespace {

struct Args {
  int iters = 3;
  int rounds = 2;
  int batch = 8;
  int threads = 2;
  int stride = 16;
  bool reference = true;
  bool onednn = true;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string w = argv[i];
    const auto next = [&]() {
      if (i + 1 >= argc) throw std::runtime_error("missing value after " + w);
      return std::stoi(argv[++i]);
    };
    if (w == "--iters")
      a.iters = next();
    else if (w == "--rounds")
      a.rounds = next();
    else if (w == "--batch")
      a.batch = next();
    else if (w == "--threads")
      a.threads = next();
    else if (w == "--stride")
      a.stride = next();
    else if (w == "--no-reference")
      a.reference = false;
    else if (w == "--no-onednn")
      a.onednn = false;
    else
      throw std::runtime_error("unknown argument " + w);
  }
  return a;
}

struct Timing {
  double min_s = 1e30;
  double mean_s = 0;
  double cpu_s = 0;
  int rounds = 0;
  void add(double min_round, double mean_round, double cpu_round) {
    min_s = std::min(min_s, min_round);
    mean_s = (mean_s * rounds + mean_round) / (rounds + 1);
    cpu_s = (cpu_s * rounds + cpu_round) / (rounds + 1);
    ++rounds;
  }
};

double cpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

class AgreidSide {
 public:
  explicit AgreidSide(const Args& a) : a_(a) {
    using agreid::trainer::ClipArch;
    using agreid::trainer::ReidModelOptions;
    torch::manual_seed(0);
    ReidModelOptions o;
    o.num_classes = 751;
    o.num_cameras = 6;
    o.stride = a.stride;
    model_ = std::make_shared<agreid::trainer::ReidModel>(ClipArch::vitB16(), o);
    model_->train();
    images_ = torch::randn({a.batch, 3, 256, 128});
    cams_ = torch::arange(a.batch, torch::kLong).remainder(6);
    labels_ = torch::arange(a.batch, torch::kLong).remainder(751);
    for (auto& p : model_->parameters())
      if (p.requires_grad()) params_.push_back(p);
  }

  void step() {
    for (auto& p : params_) p.mutable_grad() = at::Tensor();
    const auto out = model_->forwardTrain(images_, cams_);
    namespace F = torch::nn::functional;
    const auto loss = F::cross_entropy(out.score, labels_) +
                      F::cross_entropy(out.score_proj, labels_) + out.f_last.square().mean() +
                      out.f.square().mean() + out.f_proj.square().mean();
    loss.backward();
  }

  void round(Timing& t) {
    step();  // warm-up
    double min_s = 1e30, sum = 0;
    const double cpu0 = cpuSeconds();
    for (int i = 0; i < a_.iters; ++i) {
      const auto start = std::chrono::steady_clock::now();
      step();
      const std::chrono::duration<double> d = std::chrono::steady_clock::now() - start;
      min_s = std::min(min_s, d.count());
      sum += d.count();
    }
    t.add(min_s, sum / a_.iters, (cpuSeconds() - cpu0) / a_.iters);
  }

 private:
  Args a_;
  std::shared_ptr<agreid::trainer::ReidModel> model_;
  at::Tensor images_, cams_, labels_;
  std::vector<at::Tensor> params_;
};

void referenceRound(const Args& a, Timing& t) {
  const std::string cmd = std::string(AGREID_PYTHON) + " " + AGREID_SOURCE_DIR +
                          "/bench/model_reference.py --iters " + std::to_string(a.iters) +
                          " --batch " + std::to_string(a.batch) + " --threads " +
                          std::to_string(a.threads) + " --stride " + std::to_string(a.stride);
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run " + cmd);
  char buf[256];
  std::string out;
  while (fgets(buf, sizeof(buf), pipe)) out += buf;
  if (pclose(pipe) != 0) throw std::runtime_error("reference failed: " + cmd + "\n" + out);
  double min_s = 0, mean_s = 0, cpu_s = 0;
  if (std::sscanf(out.c_str(), "min_s %lf mean_s %lf cpu_s %lf", &min_s, &mean_s, &cpu_s) != 3) {
    throw std::runtime_error("unexpected reference output: " + out);
  }
  t.add(min_s, mean_s, cpu_s);
}

void print(const char* name, const Timing& t, int batch) {
  std::printf("%-8s fastest step %.3f s (%.2f images/s), mean step %.3f s, CPU %.3f s/step\n", name,
              t.min_s, batch / t.min_s, t.mean_s, t.cpu_s);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    at::set_num_threads(a.threads);
    at::globalContext().setUserEnabledMkldnn(a.onednn);
    std::printf(
        "ViT-B/16 re-ID model, 256x128, stride %d, batch %d, fp32, %d threads, %d rounds x %d "
        "steps, oneDNN %s\n",
        a.stride, a.batch, a.threads, a.rounds, a.iters, a.onednn ? "on" : "off");
    AgreidSide ours(a);
    Timing t_ours, t_ref;
    for (int r = 0; r < a.rounds; ++r) {
      ours.round(t_ours);
      if (a.reference) referenceRound(a, t_ref);
    }
    print("agreid:", t_ours, a.batch);
    if (a.reference) {
      print("pytorch:", t_ref, a.batch);
      std::printf(
          "ratio (agreid / pytorch throughput): fastest step %.2f, mean step %.2f, CPU %.2f\n",
          t_ref.min_s / t_ours.min_s, t_ref.mean_s / t_ours.mean_s, t_ref.cpu_s / t_ours.cpu_s);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "model_bench: %s\n", e.what());
    return 1;
  }
}
