// PromptLearner: learnable per-class prompt tokens in CLIP's word-embedding space (method.md §1.2,
// §2.3). A template is tokenised; each placeholder token "X" (x</w>) is replaced, for class k, by
// the learnable vector ctx[k, j] (j-th placeholder). The other positions (CLIP-ReID's
// token_prefix / token_suffix) are the template's frozen word embeddings.
//
// Identity prompt (CLIP-ReID): "A photo of a X X X X person." -> ctx [N, 4, D].
// Attribute prompt (AG-ReID): r placeholders anywhere in a template -> ctx [N, r, D].
//
// The text tower is not owned or registered: callers keep it frozen (setRequiresGrad(false)).
// Not thread-safe (a torch::nn::Module).
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <string>
#include <vector>

#include "trainer/model/text_transformer.h"
#include "trainer/model/tokenizer.h"

namespace agreid::trainer {

struct PromptLearnerOptions {
  std::string template_text = "A photo of a X X X X person.";
  int64_t num_classes = 0;
  double init_std = 0.02;  // ctx ~ normal(0, init_std)
};

struct PromptBatch {
  at::Tensor embeddings;  // [B, context, width]
  at::Tensor eot;         // [B] int64: the EOT position of the template
};

class PromptLearner : public torch::nn::Module {
 public:
  // Tokenises the template with `tokenizer` to `text`'s context length and stores its frozen
  // word embeddings. Throws InputError naming the template when it has no placeholder or does not
  // fit the context.
  PromptLearner(const ClipTokenizer& tokenizer, const TextTransformer& text,
                const PromptLearnerOptions& options);

  // Prompt embeddings for class labels [B] int64.
  PromptBatch forward(const at::Tensor& labels) const;
  // Text features [B, embed] of the prompts of `labels` through `text` (the tower given above).
  at::Tensor textFeatures(const TextTransformer& text, const at::Tensor& labels) const;

  int64_t numTokens() const { return static_cast<int64_t>(positions_.size()); }  // r
  int64_t numClasses() const { return ctx.size(0); }
  const std::vector<int64_t>& placeholderPositions() const { return positions_; }
  const std::vector<int64_t>& tokenIds() const { return ids_; }

  at::Tensor ctx;         // parameter [num_classes, r, width]
  at::Tensor token_base;  // buffer [context, width]: the template's embeddings (frozen)

 private:
  std::vector<int64_t> ids_;
  std::vector<int64_t> positions_;
  int64_t eot_ = 0;
  at::Tensor positions_tensor_;
  mutable at::Tensor positions_on_device_;  // positions_tensor_ where the prompts are built
};

}  // namespace agreid::trainer
