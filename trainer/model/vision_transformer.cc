#include "trainer/model/vision_transformer.h"

#include <torch/torch.h>

#include <cmath>
#include <string>

#include "base/check.h"
#include "base/error.h"

namespace agreid::trainer {

int64_t gridSize(int64_t image, int64_t patch_size, int64_t stride) {
  if (image < patch_size || stride <= 0) {
    throw InputError("image side " + std::to_string(image) + " is smaller than the patch size " +
                     std::to_string(patch_size) + " (or stride " + std::to_string(stride) +
                     " is not positive)");
  }
  return (image - patch_size) / stride + 1;
}

void truncNormal(at::Tensor& t, double std) {
  torch::NoGradGuard no_grad;
  // Inverse-CDF sampling as torch.nn.init.trunc_normal_ with a = -2, b = 2 (absolute bounds).
  const auto cdf = [](double x) { return (1.0 + std::erf(x / std::sqrt(2.0))) / 2.0; };
  const double lo = cdf(-2.0 / std), hi = cdf(2.0 / std);
  t.uniform_(2 * lo - 1, 2 * hi - 1).erfinv_().mul_(std * std::sqrt(2.0)).clamp_(-2.0, 2.0);
}

at::Tensor resizePositionalEmbedding(const at::Tensor& pos, int64_t grid_h, int64_t grid_w,
                                     int64_t new_h, int64_t new_w) {
  AGREID_CHECK(pos.dim() == 2 && pos.size(0) == 1 + grid_h * grid_w, "positional table ",
               pos.sizes(), " vs grid ", grid_h, "x", grid_w);
  if (grid_h == new_h && grid_w == new_w) return pos.clone();
  const int64_t width = pos.size(1);
  const auto cls = pos.narrow(0, 0, 1);
  const auto grid =
      pos.narrow(0, 1, grid_h * grid_w).reshape({1, grid_h, grid_w, width}).permute({0, 3, 1, 2});
  namespace F = torch::nn::functional;
  const auto resized = F::interpolate(grid, F::InterpolateFuncOptions()
                                                .size(std::vector<int64_t>{new_h, new_w})
                                                .mode(torch::kBilinear)
                                                .align_corners(false));
  return torch::cat({cls, resized.permute({0, 2, 3, 1}).reshape({new_h * new_w, width})}, 0);
}

VisionTransformer::VisionTransformer(const VisionConfig& config) : config_(config) {
  const auto& c = config_;
  AGREID_CHECK(c.width > 0 && c.patch_size > 0 && c.stride > 0 && c.grid_h > 0 && c.grid_w > 0,
               "bad vision config");
  conv1 = registerParamPair(*this, "conv1", torch::empty({c.width, 3, c.patch_size, c.patch_size}),
                            at::Tensor());
  conv1_weight = conv1->weight;
  class_embedding = register_parameter("class_embedding", torch::empty({c.width}));
  positional_embedding =
      register_parameter("positional_embedding", torch::empty({1 + c.grid_h * c.grid_w, c.width}));
  ln_pre = registerParamPair(*this, "ln_pre", torch::ones({c.width}), torch::zeros({c.width}));
  transformer =
      register_module("transformer", std::make_shared<Transformer>(c.width, c.layers, c.heads));
  ln_post = registerParamPair(*this, "ln_post", torch::ones({c.width}), torch::zeros({c.width}));
  proj = register_parameter("proj", torch::empty({c.width, c.output_dim}));
  if (c.num_cameras > 0) {
    cv_embed = register_parameter("cv_embed", torch::empty({c.num_cameras, c.width}));
  }
  resetParameters();
}

void VisionTransformer::resetParameters() {
  torch::NoGradGuard no_grad;
  const double scale = std::pow(static_cast<double>(config_.width), -0.5);
  // nn.Conv2d's default: kaiming_uniform(a=sqrt(5)) = uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  const double bound = 1.0 / std::sqrt(3.0 * config_.patch_size * config_.patch_size);
  conv1_weight.uniform_(-bound, bound);
  class_embedding.normal_(0.0, scale);
  positional_embedding.normal_(0.0, scale);
  proj.normal_(0.0, scale);
  ln_pre->weight.fill_(1.0);
  ln_pre->bias.zero_();
  ln_post->weight.fill_(1.0);
  ln_post->bias.zero_();
  transformer->resetParameters();
  if (cv_embed.defined()) truncNormal(cv_embed, 0.02);
}

VisionFeatures VisionTransformer::forward(const at::Tensor& images,
                                          const at::Tensor& cameras) const {
  const auto& c = config_;
  if (images.dim() != 4 || images.size(1) != 3) {
    throw InputError("vision tower: expected images [B, 3, H, W], got " + c10::str(images.sizes()));
  }
  const int64_t B = images.size(0);
  auto x = at::conv2d(images, conv1_weight, {}, {c.stride, c.stride});  // [B, W, gh, gw]
  if (x.size(2) != c.grid_h || x.size(3) != c.grid_w) {
    throw InputError("vision tower: a " + std::to_string(images.size(2)) + "x" +
                     std::to_string(images.size(3)) + " image gives a " +
                     std::to_string(x.size(2)) + "x" + std::to_string(x.size(3)) +
                     " token grid, the model expects " + std::to_string(c.grid_h) + "x" +
                     std::to_string(c.grid_w));
  }
  x = x.flatten(2).transpose(1, 2);  // [B, gh*gw, W]
  auto cls = class_embedding.view({1, 1, c.width}).expand({B, 1, c.width});
  if (cv_embed.defined()) {
    AGREID_CHECK(cameras.defined() && cameras.dim() == 1 && cameras.size(0) == B,
                 "SIE needs one camera id per image");
    cls = cls + cv_embed.index_select(0, cameras).unsqueeze(1) * c.sie_coe;
  }
  x = at::cat({cls, x}, 1) + positional_embedding;
  x = layerNorm(x, *ln_pre);
  const auto rows = transformer->forwardRows(x, at::Tensor(), at::Tensor());
  VisionFeatures out;
  out.f_last = rows.penultimate;
  out.f = layerNorm(rows.last, *ln_post);
  out.f_proj = at::mm(out.f, proj);
  return out;
}

void VisionTransformer::copyPretrained(const VisionTransformer& source) {
  const auto& s = source.config();
  const auto& c = config_;
  AGREID_CHECK(s.width == c.width && s.layers == c.layers && s.patch_size == c.patch_size &&
                   s.output_dim == c.output_dim && s.heads == c.heads,
               "vision towers differ in shape");
  torch::NoGradGuard no_grad;
  const auto src = source.named_parameters(true);
  for (auto& item : named_parameters(true)) {
    const std::string& name = item.key();
    if (name == "cv_embed") continue;
    const at::Tensor* from = src.find(name);
    AGREID_CHECK(from != nullptr, "pretrained vision tower lacks ", name);
    if (name == "positional_embedding") {
      item.value().copy_(resizePositionalEmbedding(*from, s.grid_h, s.grid_w, c.grid_h, c.grid_w));
    } else {
      item.value().copy_(*from);
    }
  }
}

}  // namespace agreid::trainer
