#include "tests/trainer/stage2_equivalence_check.h"

#include <torch/torch.h>

#include <mutex>

#include "comm/gradient_reducer.h"
#include "comm/thread_communicator.h"
#include "trainer/memory/memory_bank.h"
#include "trainer/model/attribute_encoder.h"
#include "trainer/model/clip_model.h"
#include "trainer/model/reid_model.h"
#include "trainer/stages/dual_guidance_objective.h"

namespace agreid::trainer::testing {
namespace {

constexpr int64_t kIds = 8, kK = 2, kTokens = 3;

ClipArch tinyArch() {
  ClipArch a;
  a.embed_dim = 16;
  a.vision_width = 32;
  a.vision_layers = 2;
  a.vision_heads = 2;
  a.patch_size = 8;
  a.grid_h = 4;
  a.grid_w = 2;
  a.text_width = 24;
  return a;
}

struct Setup {
  std::shared_ptr<ReidModel> model;
  std::shared_ptr<AttributeEncoder> encoder;
  at::Tensor text, tokens, images, cameras, labels, memory;
};

// Identical on every call: the seed fixes every tensor. Ranks that are threads share LibTorch's
// default generator, so building is serialised.
Setup makeSetup() {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  torch::manual_seed(11);
  Setup s;
  ReidModelOptions o;
  o.num_classes = kIds;
  o.num_cameras = 3;
  o.image_height = 32;
  o.image_width = 16;
  o.stride = 8;
  o.sie = true;
  s.model = std::make_shared<ReidModel>(tinyArch(), o);
  AttributeEncoderOptions eo;
  eo.input_dim = 16;
  eo.num_tokens = kTokens;
  eo.width = 16;
  eo.layers = 1;
  eo.heads = 2;
  eo.ffn = 32;
  eo.token_dim = 24;
  s.encoder = std::make_shared<AttributeEncoder>(eo);
  s.model->to(torch::kDouble);
  s.encoder->to(torch::kDouble);
  s.text = torch::randn({kIds, 16}, torch::kDouble);
  s.tokens = torch::randn({kIds, kTokens, 24}, torch::kDouble);
  // Global batch: kIds identities x kK images, identity-major (whole identities per rank).
  s.images = torch::randn({kIds * kK, 3, 32, 16}, torch::kDouble);
  s.cameras = torch::randint(0, 3, {kIds * kK}, torch::kLong);
  s.labels = torch::arange(kIds, torch::kLong).repeat_interleave(kK);
  s.memory = torch::randn({kIds, 16}, torch::kDouble);
  s.memory = s.memory / s.memory.norm(2, 1, true);
  return s;
}

Stage2Options options() {
  Stage2Options o;
  o.beta = 0.5;  // large enough for the guidance term to matter in the gradients
  o.mask = GuidanceMask::kOtsu;
  o.memory_bank = true;
  return o;
}

// Gradients of every parameter after the objective, backward and the reducer's finalize().
std::vector<at::Tensor> gradients(comm::Communicator& comm, int64_t begin, int64_t end) {
  Setup s = makeSetup();
  MemoryBankOptions mo;
  mo.num_identities = kIds;
  mo.dim = 16;
  mo.dtype = torch::kDouble;
  ContrastiveMemoryBank bank(mo, comm);
  bank.loadFull(s.memory);
  std::vector<at::Tensor> params;
  for (auto& p : s.model->parameters())
    if (p.requires_grad()) params.push_back(p);
  for (auto& p : s.encoder->parameters()) params.push_back(p);
  comm::GradientReducer reducer(comm, params);
  DualGuidanceObjective objective(options(), *s.model, s.encoder.get(), s.text, s.tokens, &bank,
                                  comm);
  s.model->train();
  auto terms = objective.compute(s.images.slice(0, begin, end), s.cameras.slice(0, begin, end),
                                 s.labels.slice(0, begin, end));
  terms.total.backward();
  reducer.finalize();
  std::vector<at::Tensor> out;
  for (auto& p : params) out.push_back(p.grad().clone());
  return out;
}

}  // namespace

double stage2GradientMismatch(comm::Communicator& comm) {
  // Reference: one process, the whole batch.
  std::vector<at::Tensor> reference;
  comm::runRanks(1,
                 [&](comm::Communicator& single) { reference = gradients(single, 0, kIds * kK); });
  const int64_t ids_per_rank = kIds / comm.size();
  const auto dist =
      gradients(comm, comm.rank() * ids_per_rank * kK, (comm.rank() + 1) * ids_per_rank * kK);
  double worst = 0;
  for (size_t i = 0; i < dist.size(); ++i) {
    const double scale = std::max(reference[i].abs().max().item<double>(), 1e-12);
    worst = std::max(worst, (dist[i] - reference[i]).abs().max().item<double>() / scale);
  }
  return worst;
}

}  // namespace agreid::trainer::testing
