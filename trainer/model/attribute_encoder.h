// AttributeEncoder E_A (method.md §2.3 proposal): predicts an image's r attribute tokens, in
// CLIP's word-embedding space, from its projected image feature f_proj.
//
//   s = Linear(embed -> width)(f_proj)                  [B, width]
//   x = queries + s (broadcast)                         [B, r, width], queries learnable [r, width]
//   x = `layers` pre-LN transformer encoder blocks (GELU, FFN `ffn`, `heads` heads), LayerNorm
//   A = Linear(width -> token_dim)(x)                   [B, r, token_dim]
//
// About 2.9 M parameters at the defaults (512 -> 256, 4 layers, 4 heads, FFN 768, r 16, 512).
// Not thread-safe (a torch::nn::Module).
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>

#include "trainer/model/clip_layers.h"
#include "trainer/options.h"

namespace agreid::trainer {

struct AttributeEncoderOptions {
  int64_t input_dim = 512;  // f_proj size (CLIP embed dim)
  int64_t num_tokens = 16;  // r: placeholders of the attribute template
  int64_t width = 256;
  int64_t layers = 4;
  int64_t heads = 4;
  int64_t ffn = 768;
  int64_t token_dim = 512;  // text width: tokens live in the word-embedding space

  // encoder_* keys of [stage1]; the rest comes from the CLIP model and the template.
  static AttributeEncoderOptions fromConfig(const Stage1Options& stage1, int64_t input_dim,
                                            int64_t num_tokens, int64_t token_dim);
};

class AttributeEncoder : public torch::nn::Module {
 public:
  explicit AttributeEncoder(const AttributeEncoderOptions& options);

  // f_proj [B, input_dim] -> [B, num_tokens, token_dim].
  at::Tensor forward(const at::Tensor& f_proj) const;

  const AttributeEncoderOptions& options() const { return options_; }

  std::shared_ptr<ParamPair> input_proj, ln_final, output_proj;
  at::Tensor queries;  // [num_tokens, width]
  std::shared_ptr<Transformer> transformer;

 private:
  AttributeEncoderOptions options_;
};

}  // namespace agreid::trainer
