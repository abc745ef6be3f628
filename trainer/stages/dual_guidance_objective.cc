#include "trainer/stages/dual_guidance_objective.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "base/check.h"
#include "base/error.h"

#include "comm/all_gather_autograd.h"
#include "comm/communicator.h"
#include "trainer/losses/attribute_losses.h"
#include "trainer/losses/reid_losses.h"
#include "trainer/memory/memory_bank.h"
#include "trainer/model/attribute_encoder.h"
#include "trainer/model/reid_model.h"

namespace agreid::trainer {

DualGuidanceObjective::DualGuidanceObjective(const Stage2Options& options, ReidModel& model,
                                             AttributeEncoder* encoder, at::Tensor text_features,
                                             at::Tensor tokens, ContrastiveMemoryBank* bank,
                                             comm::Communicator& comm)
    : options_(options),
      model_(model),
      encoder_(encoder),
      text_features_(std::move(text_features)),
      tokens_(std::move(tokens)),
      bank_(bank),
      comm_(comm) {
  AGREID_CHECK(!options_.attributeGuidance() || encoder_ != nullptr,
               "attribute guidance needs the attribute encoder");
}

at::Tensor guidanceThreshold(GuidanceMask mask, const at::Tensor& cosines) {
  if (mask == GuidanceMask::kOtsu) return otsuThreshold(cosines);
  if (mask == GuidanceMask::kNone || mask == GuidanceMask::kOracle)
    return torch::full({}, -1.0, cosines.options().dtype(at::kDouble));
  return percentileThreshold(cosines, maskPercentile(mask));
}

std::map<std::string, at::Tensor> DualGuidanceObjective::thresholdState() const {
  if (options_.threshold_scope != ThresholdScope::kEpoch) return {};
  std::map<std::string, at::Tensor> state;
  const double gamma = epoch_gamma_.defined() ? epoch_gamma_.item<double>()
                                              : std::numeric_limits<double>::quiet_NaN();
  state["guidance_gamma"] = torch::tensor({gamma, static_cast<double>(epoch_)});
  state["guidance_cosines"] = epoch_cosines_.empty()
                                  ? torch::zeros({0}, torch::kFloat)
                                  : torch::cat(epoch_cosines_).to(torch::kCPU, torch::kFloat);
  return state;
}

void DualGuidanceObjective::restoreThresholdState(const std::map<std::string, at::Tensor>& state) {
  if (options_.threshold_scope != ThresholdScope::kEpoch) return;
  const auto gamma = state.find("guidance_gamma");
  const auto cosines = state.find("guidance_cosines");
  if (gamma == state.end() || cosines == state.end()) {
    throw InputError("checkpoint holds no guidance threshold state (stage2.threshold_scope)");
  }
  const double saved = gamma->second[0].item<double>();
  epoch_gamma_ = std::isnan(saved) ? at::Tensor()
                                   : torch::full({}, saved, tokens_.options().dtype(at::kDouble));
  epoch_ = static_cast<int64_t>(gamma->second[1].item<double>());
  epoch_cosines_.clear();
  if (cosines->second.numel() > 0) epoch_cosines_.push_back(cosines->second.to(tokens_.device()));
}

ObjectiveTerms DualGuidanceObjective::compute(const at::Tensor& images, const at::Tensor& cameras,
                                              const at::Tensor& labels, const at::Tensor& occluded,
                                              int64_t epoch, const at::Tensor& visible) {
  const auto v = model_.visual->forward(images, cameras);
  at::Tensor f_last = v.f_last, f = v.f, f_proj = v.f_proj, y = labels;
  if (comm_.size() > 1) {  // Note [Global-batch losses]
    f_last = comm::allGatherWithGrad(comm_, f_last);
    f = comm::allGatherWithGrad(comm_, f);
    f_proj = comm::allGatherWithGrad(comm_, f_proj);
    y = comm_.allGather(labels.contiguous());
  }
  const double eps = options_.label_smoothing;
  ObjectiveTerms out;
  const at::Tensor score = at::mm(model_.bottleneck->forward(f), model_.classifier.t());
  const at::Tensor score_proj =
      at::mm(model_.bottleneck_proj->forward(f_proj), model_.classifier_proj.t());
  const at::Tensor id = options_.w_id * (crossEntropyLabelSmooth(score, y, eps) +
                                         crossEntropyLabelSmooth(score_proj, y, eps));
  TripletOptions tri_opts;
  tri_opts.margin = options_.margin;
  const at::Tensor tri = options_.w_tri * (batchHardTripletLoss(f_last, y, tri_opts) +
                                           batchHardTripletLoss(f, y, tri_opts) +
                                           batchHardTripletLoss(f_proj, y, tri_opts));
  const at::Tensor i2t = options_.w_i2t * imageToTextCrossEntropy(f_proj, text_features_, y, eps);
  at::Tensor total = id + tri + i2t;
  out.values["loss_id"] = id.detach();
  out.values["loss_tri"] = tri.detach();
  out.values["loss_i2t"] = i2t.detach();
  if (options_.attributeGuidance()) {
    AttributeGuidanceOptions g;
    g.mask = options_.mask;
    g.reduction = options_.attr_reduction;
    const bool thresholded = g.mask != GuidanceMask::kNone && g.mask != GuidanceMask::kOracle;
    at::Tensor vis;  // [global batch, r] 0/1: is each token's body region visible?
    if (visible.defined()) {
      vis = (comm_.size() > 1 ? comm_.allGather(visible.contiguous()) : visible).to(at::kDouble);
    }
    if (g.mask == GuidanceMask::kOracle) {
      AGREID_CHECK(vis.defined(), "stage2.mask = oracle needs each token's visibility");
      g.oracle_keep = vis;
    }
    if (options_.threshold_scope == ThresholdScope::kEpoch && thresholded) {
      if (epoch != epoch_) {  // a new epoch: the threshold of the one before
        if (!epoch_cosines_.empty()) {
          epoch_gamma_ = guidanceThreshold(options_.mask, torch::cat(epoch_cosines_));
        }
        epoch_cosines_.clear();
        epoch_ = epoch;
      }
      g.fixed_gamma = epoch_gamma_;
    }
    const at::Tensor predicted = encoder_->forward(f_proj);
    const auto guidance = attributeGuidanceLoss(predicted, tokens_.index_select(0, y), g);
    if (options_.threshold_scope == ThresholdScope::kEpoch && thresholded)
      epoch_cosines_.push_back(guidance.cosine.to(torch::kFloat).reshape(-1));
    const at::Tensor attr = options_.beta * guidance.loss;
    total = total + attr;
    out.values["loss_attr"] = attr.detach();
    out.gamma = guidance.gamma;
    out.kept_fraction = guidance.kept_fraction;
    if (occluded.defined()) {
      const at::Tensor occ =
          (comm_.size() > 1 ? comm_.allGather(occluded.contiguous()) : occluded).to(at::kDouble);
      const at::Tensor kept = guidance.keep.sum(1).to(at::kDouble);  // per image
      const double r = static_cast<double>(guidance.keep.size(1));
      out.values["mask_kept_occluded"] = (kept * occ).sum();
      out.values["mask_tokens_occluded"] = occ.sum() * r;
      out.values["mask_kept_holistic"] = (kept * (1 - occ)).sum();
      out.values["mask_tokens_holistic"] = (1 - occ).sum() * r;
    }
    if (vis.defined()) {  // the mask's precision and recall against true visibility
      out.values["mask_kept_visible"] = (guidance.keep.to(at::kDouble) * vis).sum();
      out.values["mask_tokens_visible"] = vis.sum();
    }
  }
  if (bank_) {
    const at::Tensor local = v.f_proj / v.f_proj.norm(2, 1, true).clamp_min(1e-12);
    const auto mem = bank_->forward(local, labels);
    total = total + options_.memory_weight * mem.loss;
    out.values["loss_memory"] = torch::full({}, options_.memory_weight * mem.global_loss,
                                            total.options().dtype(at::kDouble));
  }
  out.total = total;
  return out;
}

}  // namespace agreid::trainer
