#include "trainer/model/text_transformer.h"

#include <torch/torch.h>
#include <algorithm>

#include <cmath>
#include <limits>
#include <string>

#include "base/check.h"
#include "base/error.h"

namespace agreid::trainer {

at::Tensor causalMask(int64_t n, const at::TensorOptions& options) {
  return torch::full({n, n}, -std::numeric_limits<float>::infinity(), options).triu_(1);
}

TextTransformer::TextTransformer(const TextConfig& config) : config_(config) {
  const auto& c = config_;
  AGREID_CHECK(c.width > 0 && c.context_length > 0 && c.vocab_size > 0, "bad text config");
  transformer =
      register_module("transformer", std::make_shared<Transformer>(c.width, c.layers, c.heads));
  token_embedding = registerParamPair(*this, "token_embedding",
                                      torch::empty({c.vocab_size, c.width}), at::Tensor());
  positional_embedding =
      register_parameter("positional_embedding", torch::empty({c.context_length, c.width}));
  ln_final = registerParamPair(*this, "ln_final", torch::ones({c.width}), torch::zeros({c.width}));
  text_projection = register_parameter("text_projection", torch::empty({c.width, c.output_dim}));
  resetParameters();
}

void TextTransformer::resetParameters() {
  torch::NoGradGuard no_grad;
  token_embedding->weight.normal_(0.0, 0.02);
  positional_embedding.normal_(0.0, 0.01);
  transformer->resetParameters();
  ln_final->weight.fill_(1.0);
  ln_final->bias.zero_();
  text_projection.normal_(0.0, std::pow(static_cast<double>(config_.width), -0.5));
}

at::Tensor TextTransformer::embed(const at::Tensor& ids) const {
  return at::embedding(token_embedding->weight, ids);
}

int64_t TextTransformer::usedLength(const at::Tensor& host_ids) {
  AGREID_CHECK(host_ids.is_cpu() && host_ids.dim() == 2,
               "token ids [B, N] in host memory expected");
  if (host_ids.size(0) == 0) return host_ids.size(1);
  const at::Tensor eot = host_ids.argmax(-1).to(torch::kLong).contiguous();
  const int64_t* p = eot.data_ptr<int64_t>();
  return *std::max_element(p, p + eot.numel()) + 1;
}

at::Tensor TextTransformer::forward(const at::Tensor& ids, int64_t length) const {
  if (ids.dim() != 2 || ids.size(1) > config_.context_length) {
    throw InputError("text tower: expected token ids [B, N] with N <= " +
                     std::to_string(config_.context_length) + ", got " + c10::str(ids.sizes()));
  }
  return forwardEmbeddings(embed(ids), ids.argmax(-1), length);
}

at::Tensor TextTransformer::forwardEmbeddings(const at::Tensor& embeddings, const at::Tensor& eot,
                                              int64_t length) const {
  const auto& c = config_;
  if (embeddings.dim() != 3 || embeddings.size(1) > c.context_length ||
      embeddings.size(2) != c.width) {
    throw InputError(
        "text tower: expected token embeddings [B, N <= " + std::to_string(c.context_length) +
        ", " + std::to_string(c.width) + "], got " + c10::str(embeddings.sizes()));
  }
  AGREID_CHECK(eot.dim() == 1 && eot.size(0) == embeddings.size(0), "one EOT index per prompt");
  // Note [EOT trimming]: under the causal mask no position attends to a later one, so the
  // tokens after the last EOT of the batch cannot change any EOT row; dropping them gives the
  // same features at a fraction of the cost (captions and templates are far shorter than 77).
  const int64_t n = eot.numel() == 0
                        ? embeddings.size(1)
                        : std::min<int64_t>(embeddings.size(1),
                                            length >= 0 ? length : eot.max().item<int64_t>() + 1);
  const auto x = embeddings.narrow(1, 0, n) + positional_embedding.narrow(0, 0, n);
  const auto mask = causalMask(n, embeddings.options().requires_grad(false));
  const auto rows = transformer->forwardRows(x, mask, eot.to(torch::kLong));
  return at::mm(layerNorm(rows.last, *ln_final), text_projection);
}

}  // namespace agreid::trainer
