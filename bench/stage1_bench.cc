// stage1_bench: the time of one stage-1 step (`agreid pseudo-label`, trainer/stages/
// stage1_objective.h) on W MPI ranks: each rank encodes the prompts of its slice of the global
// batch through the frozen text tower, all-gathers them, SupCon image <-> text over the global
// batch and, for AG-ReID, E_A on its slice aligned to the tokens V; backward, the
// GradientReducer's all-reduce, Adam. Cached image features are random [images, embed]; identity
// k owns images k, k + ids, ...; epoch e visits them in a seeded permutation, like stage 1.
// Its peer is bench/stage1_reference.py (PyTorch, gloo); bench/stage1_bench.sh runs both.
//
//   mpiexec -n 2 stage1_bench --vocab BPE.txt.gz [--method ag-reid|clip-reid] [--steps 50]
//       [--warmup 5] [--images 1600] [--ids 100] [--batch 64] [--embed 128] [--text-width 128]
//       [--text-layers 3] [--text-heads 4] [--enc-width 128] [--enc-layers 2] [--enc-heads 4]
//       [--enc-ffn 384] [--threads 1] [--breakdown 0|1] [--reduce-thread 1|0]
//       [--mkldnn 1|0]
// Sizes default to configs/demo.toml's; --reduce-thread 0 all-reduces on the caller's thread
// (MpiCommunicatorOptions::reduce_on_thread = false); --mkldnn 0 turns oneDNN off (the linear
// layers then run as OpenBLAS GEMMs). Prints the prompt ("prompt length L positions
// p,q,..."), "agreid_stage1_ms <mean> <min>" (slowest rank's per step) and the loss first -> last.
// With
// --breakdown 1 the step runs as timed phases (the two backward passes separately: they reach
// disjoint parameters, so the gradients are the same) and prints "phase <name> <ms>" (rank 0's
// mean; the phases of a collective include waiting for the other rank).
#include <ATen/Parallel.h>
#include <mpi.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "comm/gradient_reducer.h"
#include "comm/mpi_communicator.h"
#include "comm/mpi_session.h"
#include "trainer/model/attribute_encoder.h"
#include "trainer/model/prompt_learner.h"
#include "trainer/model/text_transformer.h"
#include "trainer/model/tokenizer.h"
#include "trainer/stages/stage1_objective.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace agreid;

double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double slowest(double value) {
  double out = 0;
  MPI_Allreduce(&value, &out, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return out;
}

// CPU time of the whole process (every thread: compute, MPI's, the communication thread), ms.
double processCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return 1e3 * static_cast<double>(ts.tv_sec) + 1e-6 * static_cast<double>(ts.tv_nsec);
}

// Accumulates named phase times (wall and process CPU) in order of first use.
struct Phases {
  std::vector<std::string> names;
  std::map<std::string, double> ms, cpu_ms;
  Clock::time_point t = Clock::now();
  double cpu = processCpuMs();
  void start() {
    t = Clock::now();
    cpu = processCpuMs();
  }
  void mark(const std::string& name) {
    if (!ms.count(name)) names.push_back(name);
    const double now_cpu = processCpuMs();
    ms[name] += msSince(t);
    cpu_ms[name] += now_cpu - cpu;
    t = Clock::now();
    cpu = now_cpu;
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, int64_t> a = {
      {"steps", 50},     {"warmup", 5},      {"images", 1600},    {"ids", 100},
      {"batch", 64},     {"embed", 128},     {"text-width", 128}, {"text-layers", 3},
      {"text-heads", 4}, {"enc-width", 128}, {"enc-layers", 2},   {"enc-heads", 4},
      {"enc-ffn", 384},  {"threads", 1},     {"breakdown", 0},    {"reduce-thread", 1},
      {"mkldnn", 1},
  };
  std::string vocab, method = "ag-reid";
  for (int i = 1; i < argc; ++i) {
    const std::string w = argv[i];
    const std::string key = w.rfind("--", 0) == 0 ? w.substr(2) : "";
    if (i + 1 < argc && key == "vocab") {
      vocab = argv[++i];
    } else if (i + 1 < argc && key == "method") {
      method = argv[++i];
    } else if (i + 1 < argc && a.count(key)) {
      a[key] = std::atoll(argv[++i]);
    } else {
      std::fprintf(stderr, "stage1_bench: unknown or incomplete option %s\n", argv[i]);
      return 2;
    }
  }
  if (vocab.empty() || (method != "ag-reid" && method != "clip-reid")) {
    std::fprintf(stderr, "stage1_bench: needs --vocab and --method ag-reid|clip-reid\n");
    return 2;
  }
  comm::MpiSession session;
  comm::MpiCommunicatorOptions mo;
  mo.reduce_on_thread = a["reduce-thread"] != 0;
  comm::MpiCommunicator comm(MPI_COMM_WORLD, mo);
  const int rank = comm.rank(), world = comm.size();
  at::set_num_threads(static_cast<int>(a["threads"]));
  at::globalContext().setUserEnabledMkldnn(a["mkldnn"] != 0);
  torch::manual_seed(1234);

  // The frozen text tower and the trained modules, at configs/demo.toml's sizes.
  trainer::TextConfig tc;
  tc.width = a["text-width"];
  tc.layers = a["text-layers"];
  tc.heads = a["text-heads"];
  tc.output_dim = a["embed"];
  trainer::TextTransformer text(tc);
  for (auto& p : text.parameters()) p.set_requires_grad(false);
  const trainer::Stage1Options so;
  trainer::PromptLearnerOptions plo;
  plo.template_text = method == "ag-reid" ? so.template_text : so.baseline_template;
  plo.num_classes = a["ids"];
  trainer::ClipTokenizer tokenizer(vocab);
  auto learner = std::make_shared<trainer::PromptLearner>(tokenizer, text, plo);
  std::shared_ptr<trainer::AttributeEncoder> encoder;
  std::vector<at::Tensor> params = {learner->ctx};
  if (method == "ag-reid") {
    trainer::AttributeEncoderOptions eo;
    eo.input_dim = a["embed"];
    eo.num_tokens = learner->numTokens();
    eo.width = a["enc-width"];
    eo.layers = a["enc-layers"];
    eo.heads = a["enc-heads"];
    eo.ffn = a["enc-ffn"];
    eo.token_dim = tc.width;
    encoder = std::make_shared<trainer::AttributeEncoder>(eo);
    for (auto& p : encoder->parameters()) params.push_back(p);
  }
  int64_t numel = 0;
  for (const auto& p : params) numel += p.numel();
  comm::GradientReducer reducer(comm, params);
  torch::optim::Adam optimizer(params, torch::optim::AdamOptions(so.lr).weight_decay(1e-4));
  trainer::Stage1ObjectiveOptions oo;  // lambda_attr 1, mean reduction, V detached
  const at::Tensor features = torch::randn({a["images"], a["embed"]});
  const at::Tensor labels = torch::arange(a["images"], torch::kLong).remainder(a["ids"]);

  const int64_t n = a["images"], batch = a["batch"], steps_per_epoch = (n + batch - 1) / batch;
  Phases phases;
  at::Tensor perm;
  double first_loss = 0, last_loss = 0, total = 0, best = 1e30;
  for (int64_t s = 0; s < a["warmup"] + a["steps"]; ++s) {
    if (s == a["warmup"]) phases = Phases();
    MPI_Barrier(MPI_COMM_WORLD);
    const auto t0 = Clock::now();
    phases.start();
    const int64_t epoch = s / steps_per_epoch, begin = (s % steps_per_epoch) * batch;
    if (begin == 0) {
      auto gen = at::detail::createCPUGenerator(1234 * 1000003ULL + static_cast<uint64_t>(epoch));
      perm = at::randperm(n, gen, at::TensorOptions().dtype(at::kLong));
    }
    const at::Tensor chunk = perm.slice(0, begin, std::min(n, begin + batch));
    trainer::Stage1Batch b;
    b.labels = labels.index_select(0, chunk);
    b.host_labels = b.labels;
    b.features = features.index_select(0, chunk);
    phases.mark("sample");
    at::Tensor loss;
    if (a["breakdown"]) {
      const at::Tensor t = trainer::stage1TextFeatures(b, *learner, text, comm);
      phases.mark("text forward + all-gather");
      const at::Tensor supcon = trainer::stage1SupCon(b, t);
      phases.mark("SupCon forward");
      at::Tensor attr;
      if (encoder) {
        attr = oo.lambda_attr * trainer::stage1Alignment(b, *learner, *encoder, oo, rank, world);
        phases.mark("E_A + alignment forward");
      }
      optimizer.zero_grad();
      phases.mark("zero_grad");
      supcon.backward();
      phases.mark("SupCon + text backward");
      if (encoder) {
        attr.backward();
        phases.mark("E_A + alignment backward");
      }
      loss = encoder ? supcon.detach() + attr.detach() : supcon.detach();
    } else {
      loss = trainer::stage1Objective(b, *learner, text, encoder.get(), oo, comm).loss;
      phases.mark("forward");
      optimizer.zero_grad();
      loss.backward();
      phases.mark("backward");
    }
    reducer.finalize();
    phases.mark("all-reduce (finalize)");
    optimizer.step();
    phases.mark("Adam");
    const double value = loss.item<double>();
    const double ms = msSince(t0);
    if (s == 0) first_loss = value;
    last_loss = value;
    if (s >= a["warmup"]) {
      const double step_ms = slowest(ms);
      total += step_ms;
      best = std::min(best, step_ms);
    }
  }
  if (rank == 0) {
    std::printf("agreid %s ranks %d, threads %lld, %lld parameters\n", method.c_str(), world,
                static_cast<long long>(a["threads"]), static_cast<long long>(numel));
    std::printf("prompt length %lld positions", static_cast<long long>(learner->tokenIds().size()));
    const auto& pos = learner->placeholderPositions();
    for (size_t i = 0; i < pos.size(); ++i) std::printf("%s%lld", i ? "," : " ", (long long)pos[i]);
    int64_t eot = 0;
    for (size_t i = 0; i < learner->tokenIds().size(); ++i) {
      if (learner->tokenIds()[i] > learner->tokenIds()[eot]) eot = static_cast<int64_t>(i);
    }
    std::printf(" eot %lld\n", static_cast<long long>(eot));
    for (const auto& name : phases.names) {
      std::printf("phase %s: %.2f ms (cpu %.2f ms)\n", name.c_str(), phases.ms[name] / a["steps"],
                  phases.cpu_ms[name] / a["steps"]);
    }
    double cpu = 0;
    for (const auto& [name, ms] : phases.cpu_ms) cpu += ms;
    std::printf("agreid_cpu_ms %.2f (rank 0's process CPU time per step)\n", cpu / a["steps"]);
    std::printf("agreid loss %.4f -> %.4f\n", first_loss, last_loss);
    std::printf("agreid_stage1_ms %.2f %.2f\n", total / a["steps"], best);
  }
  return 0;
}
