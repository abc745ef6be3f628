#include "trainer/stages/attribute_tokens.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>

#include "base/check.h"
#include "base/error.h"
#include "data/dataset.h"
#include "trainer/model/text_transformer.h"
#include "trainer/model/tokenizer.h"

namespace agreid::trainer {

std::vector<std::vector<int64_t>> tokenBlocks(const std::vector<int64_t>& positions) {
  std::vector<std::vector<int64_t>> blocks;
  for (size_t j = 0; j < positions.size(); ++j) {
    if (j == 0 || positions[j] != positions[j - 1] + 1) blocks.emplace_back();
    blocks.back().push_back(static_cast<int64_t>(j));
  }
  return blocks;
}

at::Tensor identityAttributes(const data::DatasetReader& reader,
                              const std::vector<int64_t>& indices,
                              const std::vector<int64_t>& labels, int64_t num_ids) {
  const auto& attrs = reader.attributes();
  const int64_t stored = static_cast<int64_t>(reader.info().attribute_names.size());
  if (attrs.empty() || stored == 0) return {};
  at::Tensor out = at::full({num_ids, stored}, -1, at::kLong);
  auto acc = out.accessor<int64_t, 2>();
  for (int64_t a = 0; a < stored; ++a) {
    std::vector<std::map<int32_t, int64_t>> counts(num_ids);
    for (size_t i = 0; i < indices.size(); ++i) ++counts[labels[i]][attrs[indices[i] * stored + a]];
    for (int64_t k = 0; k < num_ids; ++k) {
      int64_t best_count = 0;
      for (const auto& [value, count] : counts[k]) {
        if (count > best_count) acc[k][a] = value, best_count = count;
      }
    }
  }
  return out;
}

std::vector<int> tokenAttributeIndices(const data::DatasetInfo& info,
                                       const std::vector<std::string>& token_attributes,
                                       int64_t r) {
  if (static_cast<int64_t>(token_attributes.size()) != r) {
    throw InputError("stage1.token_attributes has " + std::to_string(token_attributes.size()) +
                     " entries, but the template has " + std::to_string(r) + " placeholders");
  }
  std::vector<int> out;
  for (const auto& name : token_attributes) {
    if (name.empty()) {
      out.push_back(-1);
      continue;
    }
    const auto it = std::find(info.attribute_names.begin(), info.attribute_names.end(), name);
    if (it == info.attribute_names.end()) {
      throw InputError("stage1.token_attributes: '" + name +
                       "' is not an attribute stored in the dataset");
    }
    out.push_back(static_cast<int>(it - info.attribute_names.begin()));
  }
  return out;
}

at::Tensor oracleTokens(const ClipTokenizer& tokenizer, const TextTransformer& text,
                        const data::DatasetInfo& info, const at::Tensor& identity_attributes,
                        const std::vector<int>& token_attribute, const at::Tensor& placeholder) {
  AGREID_CHECK(identity_attributes.defined() && identity_attributes.dim() == 2,
               "oracle tokens need the identities' attributes");
  at::NoGradGuard no_grad;
  const int64_t num_ids = identity_attributes.size(0);
  const int64_t r = static_cast<int64_t>(token_attribute.size());
  const at::Tensor base = placeholder.detach().to(at::kCPU, at::kFloat);
  // Word embedding of every (attribute, value) name, computed once.
  std::map<std::pair<int, int64_t>, at::Tensor> words;
  auto word = [&](int a, int64_t v) {
    auto [it, fresh] = words.try_emplace({a, v});
    if (fresh) {
      const std::vector<int64_t> ids = tokenizer.encode(info.attribute_values.at(a).at(v));
      it->second =
          text.embed(at::tensor(ids, at::kLong).unsqueeze(0).to(text.positional_embedding.device()))
              .squeeze(0)
              .mean(0)
              .to(at::kCPU, at::kFloat);
    }
    return it->second;
  };
  at::Tensor out = base.view({1, 1, -1}).repeat({num_ids, r, 1}).contiguous();
  const auto acc = identity_attributes.accessor<int64_t, 2>();
  for (int64_t k = 0; k < num_ids; ++k) {
    for (int64_t j = 0; j < r; ++j) {
      const int a = token_attribute[j];
      if (a < 0 || acc[k][a] < 0) continue;
      out[k][j].copy_(word(a, acc[k][a]));
    }
  }
  return out;
}

at::Tensor permuteIdentities(const at::Tensor& tokens, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  const at::Tensor perm = at::randperm(tokens.size(0), gen, at::TensorOptions().dtype(at::kLong));
  return tokens.index_select(0, perm.to(tokens.device())).contiguous();
}

TokenProbe probeTokenBlocks(const at::Tensor& tokens,
                            const std::vector<std::vector<int64_t>>& blocks,
                            const at::Tensor& identity_attributes,
                            const std::vector<std::string>& attribute_names,
                            const std::vector<int>& token_attribute) {
  TokenProbe probe;
  const int64_t num_ids = tokens.size(0);
  if (!identity_attributes.defined() || num_ids < 2) return probe;
  const at::Tensor t = tokens.detach().to(at::kCPU, at::kDouble);
  // Block names from the attributes their tokens stand for.
  std::vector<int> block_of_token(t.size(1), -1);
  for (size_t b = 0; b < blocks.size(); ++b) {
    std::string name;
    for (int64_t j : blocks[b]) {
      block_of_token[j] = static_cast<int>(b);
      const int a = j < static_cast<int64_t>(token_attribute.size()) ? token_attribute[j] : -1;
      if (a >= 0) name += (name.empty() ? "" : "+") + attribute_names[a];
    }
    probe.blocks.push_back(name.empty() ? "block " + std::to_string(b) : name);
  }
  // Leave-one-identity-out nearest neighbour per block.
  std::vector<at::Tensor> nearest;
  for (const auto& block : blocks) {
    at::Tensor x = t.index_select(1, at::tensor(block, at::kLong)).reshape({num_ids, -1});
    x = x / x.norm(2, 1, true).clamp_min(1e-12);
    at::Tensor sim = at::mm(x, x.t());
    sim.fill_diagonal_(-std::numeric_limits<double>::infinity());
    nearest.push_back(sim.argmax(1));
  }
  const at::Tensor truth = identity_attributes.to(at::kLong);
  std::vector<at::Tensor> rows, majority;
  for (int64_t a = 0; a < truth.size(1); ++a) {
    const at::Tensor y = truth.select(1, a);
    const at::Tensor valid = y.ge(0);
    const int64_t n = valid.sum().item<int64_t>();
    if (n == 0) continue;
    probe.attributes.push_back(attribute_names[a]);
    int own = -1;
    for (size_t j = 0; j < token_attribute.size() && j < block_of_token.size(); ++j) {
      if (token_attribute[j] == a) own = block_of_token[j];
    }
    probe.own_block.push_back(own);
    std::vector<double> row;
    for (const auto& nn : nearest) {
      row.push_back(y.index_select(0, nn).eq(y).logical_and(valid).sum().item<double>() / n);
    }
    rows.push_back(at::tensor(row, at::kDouble));
    const at::Tensor counts = at::bincount(y.masked_select(valid));
    majority.push_back(at::full({}, counts.max().item<double>() / n, at::kDouble));
  }
  if (!rows.empty()) {
    probe.accuracy = at::stack(rows);
    probe.majority = at::stack(majority);
  }
  return probe;
}

int diagonalWins(const TokenProbe& p) {
  int wins = 0;
  for (size_t a = 0; a < p.attributes.size(); ++a) {
    if (p.own_block[a] < 0) continue;
    const at::Tensor row = p.accuracy[static_cast<int64_t>(a)];
    if (row.argmax().item<int64_t>() == p.own_block[a]) ++wins;
  }
  return wins;
}

std::vector<std::string> describeProbe(const TokenProbe& p) {
  std::vector<std::string> lines;
  if (p.attributes.empty()) return lines;
  char buf[64];
  std::string header = "  token-block probe (leave-one-identity-out 1-NN; * = own block)";
  lines.push_back(header);
  std::string cols = "  " + std::string(15, ' ') + "majority";
  for (size_t b = 0; b < p.blocks.size(); ++b) {
    std::snprintf(buf, sizeof(buf), "  B%zu   ", b);
    cols += buf;
  }
  lines.push_back(cols);
  for (size_t a = 0; a < p.attributes.size(); ++a) {
    std::snprintf(buf, sizeof(buf), "  %-15s%6.3f  ", p.attributes[a].c_str(),
                  p.majority[static_cast<int64_t>(a)].item<double>());
    std::string line = buf;
    for (size_t b = 0; b < p.blocks.size(); ++b) {
      std::snprintf(buf, sizeof(buf), " %.3f%c",
                    p.accuracy[static_cast<int64_t>(a)][static_cast<int64_t>(b)].item<double>(),
                    p.own_block[a] == static_cast<int>(b) ? '*' : ' ');
      line += buf;
    }
    lines.push_back(line);
  }
  std::string legend = "  blocks:";
  for (size_t b = 0; b < p.blocks.size(); ++b) {
    legend += " B" + std::to_string(b) + "=" + p.blocks[b];
  }
  lines.push_back(legend);
  int with_own = 0;
  for (int o : p.own_block) with_own += o >= 0;
  lines.push_back("  own block best for " + std::to_string(diagonalWins(p)) + " of " +
                  std::to_string(with_own) + " attributes");
  return lines;
}

}  // namespace agreid::trainer
