// pretrain_step_bench: the time of one CLIP pretraining step on W MPI ranks, as
// trainer/stages/pretrain.cc runs it -- both towers forward (the text tower trimmed to the batch's
// used length), the symmetric InfoNCE over the global batch (features all-gathered with
// gradient), backward with the GradientReducer's bucketed all-reduce, AdamW (decay / no-decay
// groups), the temperature clamp -- on a fixed random batch (the loader is benchmarked
// separately). Its peer is bench/pretrain_reference.py (PyTorch DistributedDataParallel, gloo);
// bench/pretrain_bench.sh runs both in the same run.
//
//   mpiexec -n 2 pretrain_step_bench [--steps 20] [--warmup 3] [--batch 128] [--threads 1]
//       [--height 64] [--width 32] [--patch 8] [--vision-width 128] [--layers 4] [--heads 4]
//       [--embed 128] [--text-width 128] [--text-layers 3] [--text-heads 4] [--seed 1234]
//       [--save FILE] [--save-clip FILE] [--phases 1] [--onednn 0]
//       [--ops N]
// The defaults are the tiny CLIP of configs/demo.toml. --batch is the global batch; rank r takes
// rows [r b, (r+1) b) of it. --save FILE: rank 0 writes the initial weights (OpenAI names), the
// global batch and the architecture to FILE (torch::pickle_save, read by torch.load) so that the
// peer starts from the same model and data; --save-clip FILE: rank 0 writes the initial model
// as an agreid CLIP checkpoint (saveClip; bench/extract_bench.sh extracts with it); --steps 0
// stops after writing the files. --onednn 0 turns LibTorch's oneDNN off, so agreid's linear layers
// use addmm like the peer (docs/model.md, Note [oneDNN linear] in trainer/model/clip_layers.cc).
// Prints the parameter count, the forward FLOPs of rank 0's matrix products (counted from the
// profiler's operator shapes), the global loss of the first step, "agreid_pretrain_step_ms <mean>
// <min>" (slowest rank's per step), the process CPU time per step (all threads, summed over ranks)
// and, with --phases 1, rank 0's wall time and main-thread CPU time per phase of a step.
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <mpi.h>
#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "bench/step_bench_util.h"
#include "comm/gradient_reducer.h"
#include "comm/mpi_communicator.h"
#include "comm/mpi_session.h"
#include "trainer/losses/clip_loss.h"
#include "trainer/model/clip_checkpoint.h"
#include "trainer/model/clip_model.h"

namespace {

using namespace agreid;

// Random captions as the tokenizer writes them: <SOT> words <EOT> then zeros, 8 to 32 tokens.
at::Tensor randomCaptions(int64_t n, const trainer::ClipArch& arch) {
  at::Tensor ids = torch::zeros({n, arch.context_length}, torch::kLong);
  const int64_t sot = arch.vocab_size - 2, eot = arch.vocab_size - 1;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t len = torch::randint(8, 33, {1}).item<int64_t>();
    ids[i][0] = sot;
    ids[i].slice(0, 1, len - 1).copy_(torch::randint(1, sot, {len - 2}, torch::kLong));
    ids[i][len - 1] = eot;
  }
  return ids;
}

void save(const std::string& path, const trainer::ClipModel& model, const at::Tensor& images,
          const at::Tensor& tokens, const std::map<std::string, int64_t>& a) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [name, p] : model.openaiNamedParameters()) {
    dict.insert("weights." + name, p.detach().clone());
  }
  dict.insert("images", images);
  dict.insert("tokens", tokens);
  for (const auto& [key, value] : a) dict.insert("arch." + key, torch::tensor(value));
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

namespace prof = torch::autograd::profiler;

// The CPU operators LibTorch's profiler records while `fn` runs, with their input shapes.
template <typename Fn>
std::vector<prof::KinetoEvent> profiled(Fn&& fn) {
  prof::ProfilerConfig config(prof::ProfilerState::KINETO, /*report_input_shapes=*/true);
  const std::set<torch::profiler::impl::ActivityType> cpu = {
      torch::profiler::impl::ActivityType::CPU};
  prof::prepareProfiler(config, cpu);
  prof::enableProfiler(config, cpu);
  fn();
  return prof::disableProfiler()->events();
}

// Prints the `top` operators by self CPU time (their own time, nested operators excluded) per
// step, summed over `steps` profiled steps and all threads, as torch.profiler's
// key_averages(sort_by="self_cpu_time_total") does on the peer's side.
void printSelfTimes(std::vector<prof::KinetoEvent> events, int64_t top, int64_t steps) {
  std::sort(events.begin(), events.end(), [](const auto& x, const auto& y) {
    return std::make_pair(x.startThreadId(), x.startUs()) <
           std::make_pair(y.startThreadId(), y.startUs());
  });
  std::map<std::string, double> self_us;
  std::vector<size_t> open;  // enclosing events of the current one, on its thread
  for (size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    while (!open.empty() &&
           (events[open.back()].startThreadId() != e.startThreadId() ||
            events[open.back()].startUs() + events[open.back()].durationUs() <= e.startUs())) {
      open.pop_back();
    }
    self_us[e.name()] += static_cast<double>(e.durationUs());
    if (!open.empty()) self_us[events[open.back()].name()] -= static_cast<double>(e.durationUs());
    open.push_back(i);
  }
  std::vector<std::pair<double, std::string>> rows;
  for (const auto& [name, us] : self_us) rows.emplace_back(us, name);
  std::sort(rows.rbegin(), rows.rend());
  for (size_t i = 0; i < rows.size() && static_cast<int64_t>(i) < top; ++i) {
    std::printf("agreid_op_rank0 %-40s %8.2f ms self per step\n", rows[i].second.c_str(),
                rows[i].first / 1e3 / static_cast<double>(steps));
  }
}

// Forward FLOPs of the matrix products among the operators that run in `fn`, from the shapes the
// profiler records: 2 m n k for mm / addmm (and per batch for bmm / baddbmm), 2 N Cout Cin kh kw
// Hout Wout for mkldnn_convolution (the kernel's operator under conv2d and under agreid's oneDNN
// linear layers), its stride taken as the kernel size (1 x 1 products, non-overlapping patches).
// bench/pretrain_reference.py counts the same way.
template <typename Fn>
double matmulFlops(Fn&& fn) {
  double flops = 0;
  for (const auto& e : profiled(fn)) {
    const std::string name = e.name();
    const auto& s = e.shapes();
    if (s.size() < 2 || s[0].empty() || s[1].empty()) continue;
    const auto& x = name == "aten::addmm" || name == "aten::baddbmm" ? s[1] : s[0];
    const auto& w = name == "aten::addmm" || name == "aten::baddbmm" ? s[2] : s[1];
    if (name == "aten::mm" || name == "aten::addmm") {
      flops += 2.0 * x[0] * x[1] * w[1];
    } else if (name == "aten::bmm" || name == "aten::baddbmm") {
      flops += 2.0 * x[0] * x[1] * x[2] * w[2];
    } else if (name == "aten::mkldnn_convolution" && x.size() == 4 && w.size() == 4) {
      flops += 2.0 * x[0] * w[0] * w[1] * w[2] * w[3] * (x[2] / w[2]) * (x[3] / w[3]);
    }
  }
  return flops;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, int64_t> a = {
      {"steps", 20},      {"warmup", 3},     {"batch", 128}, {"threads", 1},
      {"height", 64},     {"width", 32},     {"patch", 8},   {"vision-width", 128},
      {"layers", 4},      {"heads", 4},      {"embed", 128}, {"text-width", 128},
      {"text-layers", 3}, {"text-heads", 4}, {"seed", 1234}, {"phases", 0},
      {"onednn", 1},      {"ops", 0},
  };
  std::map<std::string, std::string> files = {{"save", ""}, {"save-clip", ""}};
  if (!bench::parseOptions(argc, argv, "pretrain_step_bench", a, files)) return 2;
  const std::string save_path = files["save"], clip_path = files["save-clip"];
  comm::MpiSession session;
  comm::MpiCommunicator comm;
  const int64_t world = comm.size(), rank = comm.rank();
  if (a["batch"] % world != 0) {
    if (rank == 0)
      std::fprintf(stderr, "pretrain_step_bench: --batch must be a multiple of ranks\n");
    return 2;
  }
  at::set_num_threads(static_cast<int>(a["threads"]));
  at::globalContext().setUserEnabledMkldnn(a["onednn"] != 0);

  trainer::ClipArch arch = bench::visionArch(a);
  arch.text_width = a["text-width"];
  arch.text_layers = a["text-layers"];
  arch.text_heads = a["text-heads"];
  torch::manual_seed(static_cast<uint64_t>(a["seed"]));  // the same model and batch on every rank
  trainer::ClipModel model(arch);
  const double weight_decay = 0.1, lr = 5e-4;  // PretrainOptions' defaults
  {
    torch::NoGradGuard g;
    model.logit_scale.fill_(std::log(1.0 / 0.07));
  }
  const at::Tensor all_images = torch::randn({a["batch"], 3, a["height"], a["width"]});
  const at::Tensor all_tokens = randomCaptions(a["batch"], arch);
  if (rank == 0 && !save_path.empty()) save(save_path, model, all_images, all_tokens, a);
  if (rank == 0 && !clip_path.empty()) trainer::saveClip(model, clip_path);
  if (a["steps"] <= 0) return 0;  // only the files
  const int64_t local = a["batch"] / world;
  const at::Tensor images = all_images.slice(0, rank * local, (rank + 1) * local).contiguous();
  const at::Tensor tokens = all_tokens.slice(0, rank * local, (rank + 1) * local).contiguous();
  const int64_t used = trainer::TextTransformer::usedLength(tokens);

  std::vector<at::Tensor> decay, no_decay;
  for (auto& p : model.parameters()) (p.dim() < 2 ? no_decay : decay).push_back(p);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                 torch::optim::AdamWOptions(lr).weight_decay(weight_decay)));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(lr).weight_decay(0.0)));
  torch::optim::AdamW optimizer(std::move(groups));
  comm::GradientReducer reducer(comm, model.parameters());
  model.train();

  bench::PhaseTimer phases;
  const auto forwardBackward = [&]() {
    phases.restart();
    const at::Tensor image_features = model.visual->forward(images).f_proj;
    const at::Tensor text_features = model.text->forward(tokens, used);
    phases.mark("towers forward");
    const at::Tensor loss =
        trainer::clipContrastiveLoss(image_features, text_features, model.logit_scale, comm);
    phases.mark("loss forward");
    optimizer.zero_grad();
    loss.backward();
    reducer.finalize();
    phases.mark("backward + all-reduce");
    return loss;
  };
  const double flops = matmulFlops([&]() {
    const at::Tensor image_features = model.visual->forward(images).f_proj;
    const at::Tensor text_features = model.text->forward(tokens, used);
    trainer::clipContrastiveLoss(image_features, text_features, model.logit_scale, comm);
  });

  const bench::StepTimes t = bench::timeSteps(
      a["warmup"], a["steps"],
      [&, s = int64_t{0}]() mutable {
        phases.counting = a["phases"] != 0 && s++ >= a["warmup"];
        const at::Tensor loss = forwardBackward();
        optimizer.step();
        torch::NoGradGuard g;  // CLIP clamps the temperature at 1/100
        model.logit_scale.clamp_(0, std::log(trainer::kMaxLogitScale));
        phases.mark("optimizer");
        return loss.item<double>();
      },
      /*mean_loss=*/true);
  if (rank == 0) {
    std::printf("agreid ranks %lld, threads %lld, global batch %lld, text length %lld\n",
                static_cast<long long>(world), static_cast<long long>(a["threads"]),
                static_cast<long long>(a["batch"]), static_cast<long long>(used));
    std::printf("agreid_parameters %lld\n",
                static_cast<long long>(trainer::countParameters(model)));
    std::printf("agreid_forward_matmul_gflops_rank0 %.4f\n", flops / 1e9);
    std::printf("agreid_loss %.6f -> %.6f\n", t.first_loss, t.last_loss);
    std::printf("agreid_pretrain_step_ms %.2f %.2f\n", t.mean_ms, t.min_ms);
    std::printf("agreid_cpu_ms_per_step_all_ranks %.1f\n", t.cpu_ms);
    if (a["phases"] != 0) phases.print("agreid_phase_rank0", a["steps"]);
  }
  if (a["ops"] > 0) {  // after the timed steps: 3 more steps under the profiler
    const auto events = profiled([&]() {
      for (int i = 0; i < 3; ++i) {
        forwardBackward();
        optimizer.step();
      }
    });
    if (rank == 0) printSelfTimes(events, a["ops"], 3);
  }
  return 0;
}
