#include "trainer/stages/stage1_objective.h"

#include <torch/torch.h>

#include <algorithm>

#include "comm/all_gather_autograd.h"
#include "comm/communicator.h"
#include "trainer/losses/attribute_losses.h"
#include "trainer/losses/supcon_loss.h"
#include "trainer/model/attribute_encoder.h"
#include "trainer/model/prompt_learner.h"
#include "trainer/model/text_transformer.h"

namespace agreid::trainer {

Stage1ObjectiveOptions Stage1ObjectiveOptions::fromConfig(const Stage1Options& stage1) {
  Stage1ObjectiveOptions o;
  o.lambda_attr = stage1.lambda_attr;
  o.attr_reduction = stage1.attr_reduction;
  o.joint = stage1.joint;
  return o;
}

Stage1Slice stage1Slice(int64_t count, int rank, int world) {
  return {count * rank / world, count * (rank + 1) / world};
}

at::Tensor stage1TextFeatures(const Stage1Batch& batch, const PromptLearner& learner,
                              const TextTransformer& text, comm::Communicator& comm) {
  const int world = comm.size();
  const c10::Device device = batch.labels.device();
  // A prompt depends only on its label: the batch's distinct labels are encoded once, shared out
  // evenly over the ranks (rank r takes the r-th run of `share`; the last runs are padded with
  // the last label, as the all-gather needs one shape; padded rows are never read).
  const auto [unique, inverse] = at::_unique(batch.host_labels, /*sorted=*/true,
                                             /*return_inverse=*/true);
  const int64_t u = unique.size(0), share = (u + world - 1) / world;
  at::Tensor mine =
      unique.slice(0, std::min(u, comm.rank() * share), std::min(u, (comm.rank() + 1) * share));
  if (mine.size(0) < share) {
    mine = at::cat({mine, unique.slice(0, u - 1, u).expand({share - mine.size(0)})});
  }
  at::Tensor features = learner.textFeatures(text, mine.to(device, /*non_blocking=*/true));
  if (world > 1) features = comm::allGatherWithGrad(comm, features);
  return features.index_select(0, inverse.to(device, /*non_blocking=*/true));
}

at::Tensor stage1SupCon(const Stage1Batch& batch, const at::Tensor& text_features) {
  const at::Tensor& img = batch.features;
  const at::Tensor& y = batch.labels;
  return supConLoss(img, text_features, y, y) + supConLoss(text_features, img, y, y);
}

at::Tensor stage1Alignment(const Stage1Batch& batch, const PromptLearner& learner,
                           const AttributeEncoder& encoder, const Stage1ObjectiveOptions& options,
                           int rank, int world) {
  const int64_t count = batch.labels.size(0);
  const auto [lo, hi] = stage1Slice(count, rank, world);
  if (hi <= lo) return torch::zeros({}, batch.features.options());
  AlignmentOptions local_sum;
  local_sum.reduction = AttrReduction::kSum;
  local_sum.joint = options.joint;
  const at::Tensor a = encoder.forward(batch.features.slice(0, lo, hi));
  const at::Tensor v = learner.ctx.index_select(0, batch.labels.slice(0, lo, hi));
  const double denom =
      options.attr_reduction == AttrReduction::kSum ? 1.0 : static_cast<double>(count);
  return (world / denom) * attributeAlignmentLoss(a, v, local_sum);
}

Stage1Terms stage1Objective(const Stage1Batch& batch, const PromptLearner& learner,
                            const TextTransformer& text, const AttributeEncoder* encoder,
                            const Stage1ObjectiveOptions& options, comm::Communicator& comm) {
  const at::Tensor supcon = stage1SupCon(batch, stage1TextFeatures(batch, learner, text, comm));
  Stage1Terms t;
  t.loss = supcon;
  t.supcon = supcon.detach();
  if (encoder && options.lambda_attr > 0) {
    const at::Tensor attr =
        stage1Alignment(batch, learner, *encoder, options, comm.rank(), comm.size());
    t.loss = t.loss + options.lambda_attr * attr;
    t.attr = attr.detach();
  }
  return t;
}

}  // namespace agreid::trainer
