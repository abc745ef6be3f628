// The building blocks shared by CLIP's vision and text towers, with OpenAI's parameter names
// (so that state-dict names match ViT-B-16.pt): ParamPair ("weight"/"bias" as nn.Linear,
// nn.LayerNorm, nn.Conv2d and nn.Embedding have them), ResidualAttentionBlock (pre-LN fused-QKV
// multi-head attention + QuickGELU MLP: attn.in_proj_weight, attn.in_proj_bias, attn.out_proj,
// ln_1, mlp.c_fc, mlp.c_proj, ln_2) and Transformer (resblocks.N).
//
// Activations are batch-first [B, N, width] (OpenAI's code is sequence-first; the arithmetic is
// the same). Modules are not thread-safe; use one per thread or guard them.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace agreid::trainer {

// "weight" and an optional "bias" parameter.
class ParamPair : public torch::nn::Module {
 public:
  ParamPair(const at::Tensor& weight, const at::Tensor& bias);
  at::Tensor weight;
  at::Tensor bias;  // undefined when absent
};

enum class Activation {
  kQuickGelu,  // x * sigmoid(1.702 x), CLIP's
  kGelu,       // exact (erf) GELU
};

struct BlockOptions {
  int64_t mlp_width = 0;  // 0: 4 * width (CLIP)
  Activation activation = Activation::kQuickGelu;
};

// Pre-LN residual block: x + attn(ln_1(x)), then x + mlp(ln_2(x)).
class ResidualAttentionBlock : public torch::nn::Module {
 public:
  ResidualAttentionBlock(int64_t width, int64_t heads, const BlockOptions& options = {});

  // x [B, N, width]; mask: additive [N, N] (e.g. causal) or undefined. Returns [B, N, width].
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask) const;
  // Only the output rows `rows` ([B] int64, one per sample; undefined: row 0) of the block:
  // [B, width]. Attention still reads all tokens. Equal to forward(x, mask) gathered at rows, at a
  // fraction of the cost.
  at::Tensor forwardRows(const at::Tensor& x, const at::Tensor& mask, const at::Tensor& rows) const;

  // OpenAI's initialisation: in_proj normal(width^-0.5), out_proj and c_proj
  // normal(width^-0.5 (2 layers)^-0.5), c_fc normal((2 width)^-0.5), biases zero, LN (1, 0).
  void resetParameters(int64_t layers);

  int64_t width() const { return width_; }
  int64_t heads() const { return heads_; }

 private:
  at::Tensor mlp(const at::Tensor& x) const;

  int64_t width_;
  int64_t heads_;
  BlockOptions options_;
  std::shared_ptr<torch::nn::Module> attn_;
  std::shared_ptr<torch::nn::Module> mlp_;
  at::Tensor in_proj_weight_, in_proj_bias_;
  std::shared_ptr<ParamPair> out_proj_, ln_1_, ln_2_, c_fc_, c_proj_;
};

// A stack of ResidualAttentionBlocks registered as resblocks.0 ... resblocks.L-1.
class Transformer : public torch::nn::Module {
 public:
  Transformer(int64_t width, int64_t layers, int64_t heads, const BlockOptions& options = {});

  // All blocks on all tokens: [B, N, width].
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask) const;

  struct RowOutput {
    at::Tensor penultimate;  // [B, width]: rows after layers-1 blocks
    at::Tensor last;         // [B, width]: rows after all blocks
  };
  // Rows `rows` ([B] int64; undefined: row 0) after the last two depths; the last block is
  // evaluated for those rows only.
  RowOutput forwardRows(const at::Tensor& x, const at::Tensor& mask, const at::Tensor& rows) const;

  void resetParameters();

  int64_t width() const { return width_; }
  int64_t layers() const { return static_cast<int64_t>(blocks_.size()); }
  int64_t heads() const { return heads_; }

 private:
  int64_t width_;
  int64_t heads_;
  std::vector<std::shared_ptr<ResidualAttentionBlock>> blocks_;
};

// Multi-head scaled dot-product attention: q [B, H, M, d], k and v [B, H, N, d], mask additive
// and broadcastable to [B, H, M, N] or undefined. Returns [B, M, H * d].
at::Tensor multiHeadAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              const at::Tensor& mask);

// x [..., K] @ weight[N, K]^T + bias (bias may be undefined): [..., N]. On the CPU the product
// runs through oneDNN (Note [oneDNN linear] in clip_layers.cc), elsewhere through addmm.
at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

// LayerNorm with ParamPair's weight and bias (eps 1e-5, as nn.LayerNorm).
at::Tensor layerNorm(const at::Tensor& x, const ParamPair& ln);

// Registers a (sub)module holding weight/bias under `name` of `parent`.
std::shared_ptr<ParamPair> registerParamPair(torch::nn::Module& parent, const std::string& name,
                                             const at::Tensor& weight, const at::Tensor& bias);

// Sets requires_grad on every parameter of `module` (freezing a tower).
void setRequiresGrad(torch::nn::Module& module, bool requires_grad);

}  // namespace agreid::trainer
