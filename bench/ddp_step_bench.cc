// ddp_step_bench: the time of one stage-2 training step of a small CLIP re-ID model on W MPI
// ranks -- forward, the AG-ReID objective (global-batch ID, triplet, i2t and Otsu-masked attribute
// guidance), backward with the GradientReducer's bucketed all-reduce, Adam -- on random images.
// Its peer is bench/ddp_reference.py (PyTorch DistributedDataParallel, gloo) with the same model
// size, batch and thread count; bench/ddp_bench.sh runs both in the same run.
//
//   mpiexec -n 2 ddp_step_bench [--steps 20] [--warmup 3] [--batch 64] [--k 4] [--height 128]
//       [--width 64] [--patch 8] [--vision-width 192] [--layers 4] [--heads 4] [--embed 192]
//       [--ids 100] [--cams 4] [--threads 1]
// --batch is the global batch (P x K); each rank gets batch / W images. Prints
// "agreid_step_ms <mean> <min>" (slowest rank's) and the loss first -> last.
#include <ATen/Parallel.h>
#include <mpi.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "bench/step_bench_util.h"
#include "comm/gradient_reducer.h"
#include "comm/mpi_communicator.h"
#include "comm/mpi_session.h"
#include "trainer/engine/param_groups.h"
#include "trainer/model/attribute_encoder.h"
#include "trainer/model/clip_model.h"
#include "trainer/model/reid_model.h"
#include "trainer/stages/dual_guidance_objective.h"
#include "trainer/stages/stage2_modules.h"

namespace {

using namespace agreid;

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, int64_t> a = {
      {"steps", 20}, {"warmup", 3}, {"batch", 64},  {"k", 4},       {"height", 128},
      {"width", 64}, {"patch", 8},  {"layers", 4},  {"heads", 4},   {"embed", 192},
      {"ids", 100},  {"cams", 4},   {"threads", 1}, {"tokens", 16}, {"vision-width", 192},
  };
  std::map<std::string, std::string> no_strings;
  if (!bench::parseOptions(argc, argv, "ddp_step_bench", a, no_strings)) return 2;
  comm::MpiSession session;
  comm::MpiCommunicator comm;
  const int64_t world = comm.size();
  if (a["batch"] % (a["k"] * world) != 0) {
    if (comm.rank() == 0)
      std::fprintf(stderr, "ddp_step_bench: --batch must be a multiple of k x ranks\n");
    return 2;
  }
  at::set_num_threads(static_cast<int>(a["threads"]));
  torch::manual_seed(1234);

  trainer::ClipArch arch = bench::visionArch(a);
  arch.text_width = a["embed"];
  trainer::ReidModelOptions ro;
  ro.num_classes = a["ids"];
  ro.num_cameras = a["cams"];
  ro.image_height = a["height"];
  ro.image_width = a["width"];
  ro.stride = a["patch"];
  auto reid = std::make_shared<trainer::ReidModel>(arch, ro);
  trainer::AttributeEncoderOptions eo;
  eo.input_dim = a["embed"];
  eo.num_tokens = a["tokens"];
  eo.width = 128;
  eo.layers = 2;
  eo.heads = 4;
  eo.ffn = 384;
  eo.token_dim = a["embed"];
  auto encoder = std::make_shared<trainer::AttributeEncoder>(eo);
  auto model = std::make_shared<trainer::Stage2Modules>(reid, encoder);
  model->train();

  trainer::Stage2Options so;  // AG-ReID defaults: Otsu mask, beta 0.01
  trainer::ParamGroupOptions pg;
  pg.lr = so.lr;
  const auto groups = trainer::buildParamGroups(*model, pg);
  auto optimizer = trainer::makeAdam(groups);
  std::vector<at::Tensor> params, buffers;
  int64_t numel = 0;
  for (const auto& g : groups) {
    params.push_back(g.param);
    numel += g.param.numel();
  }
  for (auto& b : model->buffers()) buffers.push_back(b);
  comm::GradientReducer reducer(comm, params, buffers);

  // Fixed inputs of stage 2 (text features and prompt tokens of every identity), then this rank's
  // images: random, the same tensors every step (the loader is benchmarked separately).
  const at::Tensor text = torch::randn({a["ids"], a["embed"]});
  const at::Tensor tokens = 0.02 * torch::randn({a["ids"], a["tokens"], a["embed"]});
  trainer::DualGuidanceObjective objective(so, *reid, encoder.get(), text, tokens, nullptr, comm);
  // The global batch's identities come from a shared seed; each rank takes whole identities.
  const int64_t local = a["batch"] / world;
  const int64_t local_ids = local / a["k"];
  torch::manual_seed(42);
  const at::Tensor pids = torch::randperm(a["ids"]).slice(0, 0, a["batch"] / a["k"]);
  const at::Tensor labels = pids.slice(0, comm.rank() * local_ids, (comm.rank() + 1) * local_ids)
                                .repeat_interleave(a["k"]);
  torch::manual_seed(1000 + comm.rank());
  const at::Tensor images = torch::randn({local, 3, a["height"], a["width"]});
  const at::Tensor cams = torch::randint(0, a["cams"], {local}, torch::kLong);

  const bench::StepTimes t = bench::timeSteps(
      a["warmup"], a["steps"],
      [&]() {
        auto terms = objective.compute(images, cams, labels);
        optimizer->zero_grad();
        terms.total.backward();
        reducer.finalize();
        optimizer->step();
        return terms.total.item<double>();  // also waits for the device
      },
      /*mean_loss=*/false);
  if (comm.rank() == 0) {
    std::printf("agreid ranks %lld, threads %lld, %lld parameters (%.1f MiB of gradients)\n",
                static_cast<long long>(world), static_cast<long long>(a["threads"]),
                static_cast<long long>(numel), numel * 4.0 / (1 << 20));
    std::printf("agreid loss %.4f -> %.4f\n", t.first_loss, t.last_loss);
    std::printf("agreid_step_ms %.2f %.2f\n", t.mean_ms, t.min_ms);
  }
  return 0;
}
