#include "trainer/model/clip_model.h"

#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "base/error.h"

namespace agreid::trainer {
namespace {

constexpr const char* kTextPrefix = "text.";

}  // namespace

ClipArch ClipArch::fromOptions(const ClipArchOptions& o) {
  if (o.image_height % o.patch_size != 0 || o.image_width % o.patch_size != 0) {
    throw InputError("clip.image_height/clip.image_width (" + std::to_string(o.image_height) + "x" +
                     std::to_string(o.image_width) + ") must be multiples of clip.patch_size " +
                     std::to_string(o.patch_size));
  }
  if (o.vision_width % o.vision_heads != 0) {
    throw InputError("clip.vision_width " + std::to_string(o.vision_width) +
                     " must be a multiple of clip.vision_heads " + std::to_string(o.vision_heads));
  }
  if (o.text_width % o.text_heads != 0) {
    throw InputError("clip.text_width " + std::to_string(o.text_width) +
                     " must be a multiple of clip.text_heads " + std::to_string(o.text_heads));
  }
  ClipArch a;
  a.embed_dim = o.embed_dim;
  a.vision_width = o.vision_width;
  a.vision_layers = o.vision_layers;
  a.vision_heads = o.vision_heads;
  a.patch_size = o.patch_size;
  a.grid_h = o.image_height / o.patch_size;
  a.grid_w = o.image_width / o.patch_size;
  a.context_length = o.context_length;
  a.vocab_size = o.vocab_size;
  a.text_width = o.text_width;
  a.text_layers = o.text_layers;
  a.text_heads = o.text_heads;
  return a;
}

VisionConfig ClipArch::vision() const {
  VisionConfig v;
  v.width = vision_width;
  v.layers = vision_layers;
  v.heads = vision_heads;
  v.patch_size = patch_size;
  v.stride = patch_size;
  v.grid_h = grid_h;
  v.grid_w = grid_w;
  v.output_dim = embed_dim;
  return v;
}

TextConfig ClipArch::text() const {
  TextConfig t;
  t.width = text_width;
  t.layers = text_layers;
  t.heads = text_heads;
  t.context_length = context_length;
  t.vocab_size = vocab_size;
  t.output_dim = embed_dim;
  return t;
}

std::string ClipArch::summary() const {
  std::ostringstream os;
  os << "vision ViT width " << vision_width << ", " << vision_layers << " layers, " << vision_heads
     << " heads, patch " << patch_size << ", grid " << grid_h << "x" << grid_w << " ("
     << grid_h * patch_size << "x" << grid_w * patch_size << " input); text width " << text_width
     << ", " << text_layers << " layers, " << text_heads << " heads, context " << context_length
     << ", vocabulary " << vocab_size << "; embed dim " << embed_dim;
  return os.str();
}

ClipModel::ClipModel(const ClipArch& arch) : arch_(arch) {
  visual = register_module("visual", std::make_shared<VisionTransformer>(arch.vision()));
  text = register_module("text", std::make_shared<TextTransformer>(arch.text()));
  logit_scale = register_parameter("logit_scale", torch::full({}, std::log(1.0 / 0.07)));
}

std::string ClipModel::openaiName(const std::string& module_name) {
  if (module_name.rfind(kTextPrefix, 0) == 0) return module_name.substr(5);
  return module_name;
}

std::vector<std::pair<std::string, at::Tensor>> ClipModel::openaiNamedParameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& item : named_parameters(true)) {
    out.emplace_back(openaiName(item.key()), item.value());
  }
  return out;
}

int64_t countParameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters(true)) n += p.numel();
  return n;
}

}  // namespace agreid::trainer
