#include "trainer/model/prompt_learner.h"

#include <torch/torch.h>

#include <algorithm>

#include "base/check.h"
#include "base/error.h"

namespace agreid::trainer {

PromptLearner::PromptLearner(const ClipTokenizer& tokenizer, const TextTransformer& text,
                             const PromptLearnerOptions& options) {
  if (options.num_classes < 1) {
    throw InputError("prompt learner: the training split has no identities");
  }
  TokenizeOptions tok;
  tok.context_length = text.config().context_length;
  try {
    ids_ = tokenizer.tokenize(options.template_text, tok);
  } catch (const InputError& e) {
    throw InputError(std::string("prompt template: ") + e.what());
  }
  positions_ = ClipTokenizer::placeholderPositions(ids_, tokenizer.placeholderId());
  if (positions_.empty()) {
    throw InputError("prompt template '" + options.template_text + "' has no placeholder token X");
  }
  eot_ = std::max_element(ids_.begin(), ids_.end()) - ids_.begin();
  const int64_t width = text.config().width;
  {
    torch::NoGradGuard no_grad;
    const auto ids = torch::tensor(ids_, torch::kLong).unsqueeze(0);
    token_base = register_buffer("token_base", text.embed(ids).squeeze(0).detach().clone());
  }
  ctx = register_parameter(
      "ctx", torch::randn({options.num_classes, numTokens(), width}) * options.init_std);
  positions_tensor_ = torch::tensor(positions_, torch::kLong);
}

PromptBatch PromptLearner::forward(const at::Tensor& labels) const {
  AGREID_CHECK(labels.dim() == 1, "labels must be [B]");
  const int64_t B = labels.size(0);
  const auto base = token_base.unsqueeze(0).expand({B, token_base.size(0), token_base.size(1)});
  const auto tokens = ctx.index_select(0, labels);  // [B, r, width]
  PromptBatch out;
  if (!positions_on_device_.defined() || positions_on_device_.device() != base.device()) {
    positions_on_device_ = positions_tensor_.to(base.device(), /*non_blocking=*/true);  // once
  }
  out.embeddings = base.index_copy(1, positions_on_device_, tokens);
  out.eot = torch::full({B}, eot_, labels.options().dtype(torch::kLong));
  return out;
}

at::Tensor PromptLearner::textFeatures(const TextTransformer& text,
                                       const at::Tensor& labels) const {
  const auto p = forward(labels);
  return text.forwardEmbeddings(p.embeddings, p.eot, eot_ + 1);
}

}  // namespace agreid::trainer
