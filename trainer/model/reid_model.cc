#include "trainer/model/reid_model.h"

#include <torch/torch.h>

#include "base/check.h"
#include "base/error.h"

namespace agreid::trainer {

ReidModelOptions ReidModelOptions::fromConfig(const ModelOptions& model, int64_t image_height,
                                              int64_t image_width, int64_t num_classes,
                                              int64_t num_cameras) {
  ReidModelOptions o;
  o.num_classes = num_classes;
  o.num_cameras = num_cameras;
  o.image_height = image_height;
  o.image_width = image_width;
  o.stride = model.stride;
  o.sie = model.sie;
  o.sie_coe = model.sie_coe;
  return o;
}

void ReidModel::build(const VisionConfig& pretrained) {
  const auto& o = options_;
  if (o.num_classes < 1) throw InputError("re-ID model: the training split has no identities");
  if (o.stride < 1 || o.stride > pretrained.patch_size) {
    throw InputError("model.stride " + std::to_string(o.stride) + " must be in [1, patch size " +
                     std::to_string(pretrained.patch_size) + "]");
  }
  if (o.sie && o.num_cameras < 1) {
    throw InputError("model.sie is on but the dataset has no cameras");
  }
  VisionConfig c = pretrained;
  c.stride = o.stride;
  c.grid_h = gridSize(o.image_height, c.patch_size, c.stride);
  c.grid_w = gridSize(o.image_width, c.patch_size, c.stride);
  c.num_cameras = o.sie ? o.num_cameras : 0;
  c.sie_coe = o.sie_coe;
  visual = register_module("visual", std::make_shared<VisionTransformer>(c));

  const auto bn = [](int64_t dim) {
    auto m = std::make_shared<torch::nn::BatchNorm1dImpl>(dim);
    torch::NoGradGuard no_grad;
    m->weight.fill_(1.0);
    m->bias.zero_();
    m->bias.set_requires_grad(false);  // CLIP-ReID freezes the BNNeck bias
    return m;
  };
  bottleneck = register_module("bottleneck", bn(c.width));
  bottleneck_proj = register_module("bottleneck_proj", bn(c.output_dim));
  auto cls = register_module("classifier", std::make_shared<torch::nn::Module>());
  classifier = cls->register_parameter("weight", torch::randn({o.num_classes, c.width}) * 0.001);
  auto cls_proj = register_module("classifier_proj", std::make_shared<torch::nn::Module>());
  classifier_proj =
      cls_proj->register_parameter("weight", torch::randn({o.num_classes, c.output_dim}) * 0.001);
}

ReidModel::ReidModel(const ClipModel& clip, const ReidModelOptions& options) : options_(options) {
  build(clip.visual->config());
  visual->copyPretrained(*clip.visual);
}

ReidModel::ReidModel(const ClipArch& arch, const ReidModelOptions& options) : options_(options) {
  build(arch.vision());
}

int64_t ReidModel::featureDim() const {
  return visual->config().width + visual->config().output_dim;
}

ReidOutput ReidModel::forwardTrain(const at::Tensor& images, const at::Tensor& cameras) const {
  const auto v = visual->forward(images, cameras);
  ReidOutput out;
  out.f_last = v.f_last;
  out.f = v.f;
  out.f_proj = v.f_proj;
  out.score = at::mm(bottleneck->forward(v.f), classifier.t());
  out.score_proj = at::mm(bottleneck_proj->forward(v.f_proj), classifier_proj.t());
  return out;
}

at::Tensor ReidModel::forwardTest(const at::Tensor& images, const at::Tensor& cameras) const {
  const auto v = visual->forward(images, cameras);
  const auto feat = at::cat({v.f, v.f_proj}, 1);
  return torch::nn::functional::normalize(feat,
                                          torch::nn::functional::NormalizeFuncOptions().dim(1));
}

}  // namespace agreid::trainer
