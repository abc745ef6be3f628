// Stage 1 at scale: per-rank memory and time of the pseudo-label learning loop and of the
// pseudo-label cache, on synthetic cached features (no images, no image tower): N images of K
// identities (sorted by identity, as an imported dataset is), features of width D from a seeded
// normal, a tiny text tower (1 layer, width --width) and the attribute prompt (r = 16 tokens).
// Each rank builds the features of its shard [r*N/W, (r+1)*N/W) -- what the feature pass
// (feature_pass.h) encodes -- and hands stage 1 what obtainPseudoLabels() would.
//
// The CLIP vocabulary comes from $AGREID_SHARED_DIR/clip (default: <source>/../shared/clip).
// usage: mpiexec -n W stage1_scaling_bench --n N --ids K [--dim 32] [--width 32] [--steps 20]
//        [--batch 64] [--dir /tmp/stage1-bench]
// Prints one line: W N K, this layout's feature and token bytes per rank, peak RSS (max over
// ranks) after learning and after the cache read, s/step, cache write and read seconds. One
// configuration per process, so that the peak RSS is its own.
#include <mpi.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "base/log.h"
#include "comm/mpi_communicator.h"
#include "comm/mpi_session.h"
#include "trainer/model/clip_layers.h"
#include "trainer/model/clip_model.h"
#include "trainer/model/tokenizer.h"
#include "trainer/stages/pseudo_label_cache.h"
#include "trainer/stages/stage1_learning.h"

namespace {

using namespace agreid;
using Clock = std::chrono::steady_clock;

struct BenchOptions {
  int64_t n = 100000;
  int64_t ids = 5000;
  int64_t dim = 32;
  int64_t width = 32;
  int64_t steps = 20;
  int64_t batch = 64;
  std::string dir = "/tmp/stage1-bench";
};

// Peak resident set size of this process in MiB (/proc/self/status VmHWM).
double peakRssMiB() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0.0;
}

double maxOverRanks(comm::Communicator& comm, double v) {
  at::Tensor t = torch::tensor({v}, torch::kDouble);
  comm.allReduce(t, {comm::ReduceOp::kMax})->wait();
  return t.item<double>();
}

double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double mib(const at::Tensor& t) { return static_cast<double>(t.nbytes()) / (1024.0 * 1024.0); }

BenchOptions parse(int argc, char** argv) {
  BenchOptions o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const char* v = argv[i + 1];
    if (a == "--n") o.n = std::stoll(v);
    if (a == "--ids") o.ids = std::stoll(v);
    if (a == "--dim") o.dim = std::stoll(v);
    if (a == "--width") o.width = std::stoll(v);
    if (a == "--steps") o.steps = std::stoll(v);
    if (a == "--batch") o.batch = std::stoll(v);
    if (a == "--dir") o.dir = v;
  }
  return o;
}

// This rank's shard of the synthetic dataset: rows [r*N/W, (r+1)*N/W), identity = row*K/N.
trainer::Stage1Features shardFeatures(const BenchOptions& o, int rank, int world) {
  const int64_t begin = o.n * rank / world, end = o.n * (rank + 1) / world;
  auto gen = at::detail::createCPUGenerator(1000 + static_cast<uint64_t>(rank));
  trainer::Stage1Features s;
  s.features = at::randn({end - begin, o.dim}, gen, at::TensorOptions().dtype(at::kFloat));
  s.labels = at::div(torch::arange(begin, end, torch::kLong) * o.ids, o.n, "floor");
  s.total = o.n;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  comm::MpiSession session;
  const BenchOptions o = parse(argc, argv);
  torch::set_num_threads(1);
  comm::MpiCommunicator comm;
  const int rank = comm.rank(), world = comm.size();
  Log log(rank, world, ProgressStyle::kNone);
  trainer::StageContext ctx{comm, log};

  trainer::ClipArch arch;
  arch.embed_dim = o.dim;
  arch.vision_width = 32;
  arch.vision_layers = 1;
  arch.vision_heads = 2;
  arch.grid_h = arch.grid_w = 1;
  arch.text_width = o.width;
  arch.text_layers = 1;
  arch.text_heads = 2;
  torch::manual_seed(1);
  auto clip = std::make_shared<trainer::ClipModel>(arch);
  trainer::setRequiresGrad(*clip, false);
  const char* shared = std::getenv("AGREID_SHARED_DIR");
  const trainer::ClipTokenizer tokenizer(
      std::string(shared != nullptr && *shared != '\0' ? shared : AGREID_SHARED_DIR) +
      "/clip/bpe_simple_vocab_16e6.txt.gz");

  trainer::PseudoLabelSetup setup;
  setup.stage1.batch_size = o.batch;
  setup.stage1.epochs = 1;
  setup.stage1.encoder_layers = 1;
  setup.stage1.encoder_width = 32;
  setup.stage1.encoder_heads = 2;
  setup.stage1.encoder_ffn = 64;
  setup.run_dir = o.dir + "/run-w" + std::to_string(world);
  setup.checkpoint.resume = "none";
  setup.log_every = 1000000;
  if (rank == 0) std::filesystem::remove_all(setup.run_dir);
  comm.barrier();

  const trainer::Stage1Features data = shardFeatures(o, rank, world);
  trainer::PromptLearnerOptions plo;
  plo.template_text = setup.stage1.template_text;
  plo.num_classes = o.ids;
  auto prompt = std::make_shared<trainer::PromptLearner>(tokenizer, *clip->text, plo);
  auto encoder =
      std::make_shared<trainer::AttributeEncoder>(trainer::AttributeEncoderOptions::fromConfig(
          setup.stage1, o.dim, prompt->numTokens(), o.width));
  trainer::Stage1Modules trained(prompt, encoder);
  trainer::Stage1LearnOptions learn;
  learn.key = "bench";
  learn.max_steps = o.steps;
  const trainer::StageOutcome out =
      trainer::learnPseudoLabelTokens(setup, learn, data, *clip->text, trained, ctx);
  const double step_s = maxOverRanks(comm, out.train_seconds / static_cast<double>(o.steps));
  const double rss_learn = maxOverRanks(comm, peakRssMiB());

  // The cache: the identity centres (the ranks' sums, all-reduced), written by rank 0 (the prompt
  // text features are stand-ins), read by every rank.
  trainer::PseudoLabelCache cache;
  cache.key = "bench";
  cache.tokens = prompt->ctx.detach();
  cache.text_features = torch::randn({o.ids, o.dim});
  auto t0 = Clock::now();
  at::Tensor sums = trainer::identityFeatureSums(data.features, data.labels, o.ids);
  comm.allReduce(sums)->wait();
  cache.identity_centres = trainer::identityCentres(sums);
  const double centres_s = maxOverRanks(comm, secondsSince(t0));
  for (const auto& item : encoder->named_parameters()) {
    cache.encoder.emplace_back(item.key(), item.value().detach());
  }
  const std::string path = o.dir + "/cache-w" + std::to_string(world) + ".h5";
  t0 = Clock::now();
  if (rank == 0) trainer::writeCache(path, cache);
  comm.barrier();
  const double write_s = maxOverRanks(comm, secondsSince(t0));
  cache = {};
  t0 = Clock::now();
  const auto back = trainer::readCache(path, "bench", log);
  const double read_s = maxOverRanks(comm, secondsSince(t0));
  const double rss_read = maxOverRanks(comm, peakRssMiB());
  const double file_mib = static_cast<double>(std::filesystem::file_size(path)) / 1048576.0;
  const double token_state = 4 * mib(prompt->ctx);  // V, its gradient, Adam's two moments
  if (rank == 0) {
    std::printf(
        "W=%d N=%lld K=%lld D=%lld width=%lld r=%lld batch=%lld | features+labels %.1f MiB/rank, "
        "tokens+grad+Adam %.1f MiB/rank | peak RSS %.0f MiB after learning, %.0f after cache "
        "read | %.4f s/step | centres %.2f s, cache %.1f MiB: write %.2f s, read %.2f s\n",
        world, static_cast<long long>(o.n), static_cast<long long>(o.ids),
        static_cast<long long>(o.dim), static_cast<long long>(o.width),
        static_cast<long long>(prompt->numTokens()), static_cast<long long>(o.batch),
        mib(data.features) + mib(data.labels), token_state, rss_learn, rss_read, step_s, centres_s,
        file_mib, write_s, read_s);
  }
  comm.barrier();
  if (rank == 0) std::filesystem::remove(path);
  return back ? 0 : 1;
}
