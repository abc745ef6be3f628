// TextTransformer: CLIP's text tower (method.md §1.2). Token embedding + positional embedding,
// a causal transformer, ln_final, pooling at the EOT token, text_projection.
//
// Parameter names follow OpenAI's top-level text tensors: token_embedding.weight,
// positional_embedding, transformer.resblocks.N.*, ln_final, text_projection.
// Not thread-safe (a torch::nn::Module).
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>

#include "trainer/model/clip_layers.h"

namespace agreid::trainer {

struct TextConfig {
  int64_t width = 512;
  int64_t layers = 12;
  int64_t heads = 8;
  int64_t context_length = 77;
  int64_t vocab_size = 49408;
  int64_t output_dim = 512;
};

class TextTransformer : public torch::nn::Module {
 public:
  explicit TextTransformer(const TextConfig& config);

  // ids [B, N] int64 (N <= context_length; CLIP pads to 77), pooled at argmax(ids) (the EOT
  // token, the largest id). Returns [B, output_dim]. `length`: the positions used (Note [EOT
  // trimming]) when the caller knows them (usedLength of the ids on the host); -1 reads them
  // from `ids`, which makes a CUDA caller wait for the device.
  at::Tensor forward(const at::Tensor& ids, int64_t length = -1) const;

  // Token embeddings [B, N, width] (e.g. a prompt learner's output) pooled at `eot` ([B] int64);
  // `length` as in forward().
  at::Tensor forwardEmbeddings(const at::Tensor& embeddings, const at::Tensor& eot,
                               int64_t length = -1) const;

  // The positions a batch of token ids [B, N] in host memory uses: its last EOT + 1 (N when B = 0).
  static int64_t usedLength(const at::Tensor& host_ids);

  // token_embedding(ids): [B, N, width].
  at::Tensor embed(const at::Tensor& ids) const;

  // OpenAI's initialize_parameters() for the text side.
  void resetParameters();

  const TextConfig& config() const { return config_; }

  at::Tensor positional_embedding, text_projection;
  std::shared_ptr<ParamPair> token_embedding, ln_final;
  std::shared_ptr<Transformer> transformer;

 private:
  TextConfig config_;
};

// Additive causal mask [n, n]: 0 on and below the diagonal, -inf above.
at::Tensor causalMask(int64_t n, const at::TensorOptions& options);

}  // namespace agreid::trainer
