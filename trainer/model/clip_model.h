// ClipModel: the two CLIP towers and logit_scale, with OpenAI's state-dict names ("visual.*" for
// the image tower, the text tensors at the top level). ClipArch is the architecture as OpenAI's
// build_model() infers it from tensor shapes.
//
// Not thread-safe (a torch::nn::Module).
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "trainer/model/text_transformer.h"
#include "trainer/model/vision_transformer.h"
#include "trainer/options.h"

namespace agreid::trainer {

struct ClipArch {
  int64_t embed_dim = 512;
  int64_t vision_width = 768;
  int64_t vision_layers = 12;
  int64_t vision_heads = 12;
  int64_t patch_size = 16;
  int64_t grid_h = 14;  // pre-training token grid (image side / patch_size)
  int64_t grid_w = 14;
  int64_t context_length = 77;
  int64_t vocab_size = 49408;
  int64_t text_width = 512;
  int64_t text_layers = 12;
  int64_t text_heads = 8;

  // OpenAI ViT-B/16.
  static ClipArch vitB16() { return {}; }
  // A model trained from scratch (pretraining): grid = image size / patch size. Throws InputError
  // when a side is not a multiple of the patch or a width is not a multiple of its heads.
  static ClipArch fromOptions(const ClipArchOptions& options);

  VisionConfig vision() const;  // stride = patch_size, no SIE
  TextConfig text() const;
  std::string summary() const;  // one line
};

class ClipModel : public torch::nn::Module {
 public:
  explicit ClipModel(const ClipArch& arch);

  const ClipArch& arch() const { return arch_; }

  // Every parameter under its OpenAI state-dict name, in registration order.
  std::vector<std::pair<std::string, at::Tensor>> openaiNamedParameters() const;
  // The OpenAI name of a parameter name of this module ("text.X" -> "X").
  static std::string openaiName(const std::string& module_name);

  std::shared_ptr<VisionTransformer> visual;
  std::shared_ptr<TextTransformer> text;
  at::Tensor logit_scale;  // log(1 / 0.07) at initialisation

 private:
  ClipArch arch_;
};

// Number of elements of the parameters of `module`.
int64_t countParameters(const torch::nn::Module& module);

}  // namespace agreid::trainer
