#include "trainer/stages/feature_pass.h"

#include <torch/torch.h>

#include "base/progress.h"
#include "comm/communicator.h"
#include "data/loader.h"
#include "data/samplers.h"

namespace agreid::trainer {

at::Tensor encodeDataset(const FeaturePassOptions& options, const EncodeFn& encode,
                         StageContext& ctx) {
  comm::Communicator& comm = ctx.hostComm();  // the features are gathered in host memory
  data::ShardedSequentialSampler sampler(options.indices, options.batch_size,
                                         {comm.rank(), comm.size()});
  data::LoaderPlan plan;
  plan.batches = sampler.batches();
  plan.mode = data::TransformMode::kTest;
  plan.transform = options.transform;
  ProgressOptions po;
  po.label = options.label;
  po.unit = "images";
  for (const auto& b : plan.batches) po.total += static_cast<int64_t>(b.size());
  Progress progress(ctx.log, po);
  std::vector<at::Tensor> parts;
  {
    data::Loader loader(options.dataset, plan, options.loader);
    torch::NoGradGuard no_grad;
    int64_t done = 0;
    while (auto batch = loader.next()) {
      const at::Tensor images = batch->images.to(ctx.device, /*non_blocking=*/true);
      const at::Tensor cameras = batch->camid.to(ctx.device, /*non_blocking=*/true);
      parts.push_back(encode(images, cameras).to(torch::kCPU, torch::kFloat));
      done += images.size(0);
      progress.update(done);
    }
  }
  progress.finish();
  // Ranks with an empty shard still take part in the gather (and return [0, D]); they need the
  // feature width, which a zero-row forward of the encoder provides.
  at::Tensor local;
  if (parts.empty()) {
    torch::NoGradGuard no_grad;
    const auto& t = options.transform;
    const at::Tensor probe =
        encode(torch::zeros({1, 3, t.height, t.width}, torch::TensorOptions().device(ctx.device)),
               torch::zeros({1}, torch::TensorOptions().dtype(torch::kLong).device(ctx.device)));
    local = torch::zeros({0, probe.size(1)});
  } else {
    local = torch::cat(parts, 0);
  }
  return comm.size() > 1 && options.gather ? comm.allGatherV(local) : local;
}

}  // namespace agreid::trainer
