#include "trainer/model/attribute_encoder.h"

#include <torch/torch.h>

#include <cmath>

#include "base/check.h"
#include "base/error.h"

namespace agreid::trainer {
namespace {

// nn.Linear's default initialisation: uniform(+-1/sqrt(fan_in)) for weight and bias.
std::shared_ptr<ParamPair> makeLinear(torch::nn::Module& parent, const std::string& name,
                                      int64_t in, int64_t out) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  return registerParamPair(parent, name, torch::empty({out, in}).uniform_(-bound, bound),
                           torch::empty({out}).uniform_(-bound, bound));
}

}  // namespace

AttributeEncoderOptions AttributeEncoderOptions::fromConfig(const Stage1Options& stage1,
                                                            int64_t input_dim, int64_t num_tokens,
                                                            int64_t token_dim) {
  AttributeEncoderOptions o;
  o.input_dim = input_dim;
  o.num_tokens = num_tokens;
  o.width = stage1.encoder_width;
  o.layers = stage1.encoder_layers;
  o.heads = stage1.encoder_heads;
  o.ffn = stage1.encoder_ffn;
  o.token_dim = token_dim;
  return o;
}

AttributeEncoder::AttributeEncoder(const AttributeEncoderOptions& options) : options_(options) {
  const auto& o = options_;
  if (o.width % o.heads != 0) {
    throw InputError("stage1.encoder_width " + std::to_string(o.width) +
                     " must be a multiple of stage1.encoder_heads " + std::to_string(o.heads));
  }
  AGREID_CHECK(o.input_dim > 0 && o.num_tokens > 0 && o.layers > 0 && o.token_dim > 0,
               "bad attribute encoder options");
  input_proj = makeLinear(*this, "input_proj", o.input_dim, o.width);
  queries = register_parameter("queries", torch::randn({o.num_tokens, o.width}) * 0.02);
  BlockOptions block;
  block.mlp_width = o.ffn;
  block.activation = Activation::kGelu;
  transformer = register_module("transformer",
                                std::make_shared<Transformer>(o.width, o.layers, o.heads, block));
  ln_final = registerParamPair(*this, "ln_final", torch::ones({o.width}), torch::zeros({o.width}));
  output_proj = makeLinear(*this, "output_proj", o.width, o.token_dim);
}

at::Tensor AttributeEncoder::forward(const at::Tensor& f_proj) const {
  AGREID_CHECK(f_proj.dim() == 2 && f_proj.size(1) == options_.input_dim, "f_proj must be [B, ",
               options_.input_dim, "], got ", f_proj.sizes());
  const auto s = linear(f_proj, input_proj->weight, input_proj->bias);  // [B, width]
  const auto x = queries.unsqueeze(0) + s.unsqueeze(1);                 // [B, r, width]
  const auto y = layerNorm(transformer->forward(x, at::Tensor()), *ln_final);
  return linear(y, output_proj->weight, output_proj->bias);
}

}  // namespace agreid::trainer
