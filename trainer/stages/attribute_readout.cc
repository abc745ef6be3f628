#include "trainer/stages/attribute_readout.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdio>

#include "base/error.h"
#include "data/dataset.h"
#include "data/synth_world.h"
#include "trainer/model/text_transformer.h"
#include "trainer/model/tokenizer.h"

namespace agreid::trainer {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  const auto e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::vector<std::string> splitBar(const std::string& s) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t pos = s.find('|');; pos = s.find('|', start)) {
    parts.push_back(
        trim(s.substr(start, pos == std::string::npos ? std::string::npos : pos - start)));
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  return parts;
}

void matchDatasetAttribute(const data::DatasetInfo& info, ReadoutVocabulary& vocab, size_t g) {
  vocab.dataset_attribute.push_back(-1);
  for (size_t a = 0; a < info.attribute_names.size(); ++a) {
    if (info.attribute_names[a] != vocab.groups[g]) continue;
    if (a < info.attribute_values.size() && info.attribute_values[a] == vocab.values[g]) {
      vocab.dataset_attribute.back() = static_cast<int>(a);
    }
  }
}

}  // namespace

ReadoutVocabulary readoutVocabulary(const data::DatasetReader& reader,
                                    const std::vector<std::string>& configured) {
  ReadoutVocabulary vocab;
  const data::DatasetInfo& info = reader.info();
  if (!configured.empty()) {
    for (size_t line = 0; line < configured.size(); ++line) {
      const std::string& entry = configured[line];
      const auto colon = entry.find(':');
      const auto parts = splitBar(colon == std::string::npos ? "" : entry.substr(colon + 1));
      if (colon == std::string::npos || parts.size() < 3 ||
          parts[0].find("{}") == std::string::npos) {
        throw InputError("stage1.attribute_vocabulary[" + std::to_string(line) + "] = \"" + entry +
                         "\": expected \"group: template with {}|value|value...\"");
      }
      vocab.groups.push_back(trim(entry.substr(0, colon)));
      vocab.values.emplace_back(parts.begin() + 1, parts.end());
      std::vector<std::string> prompts;
      for (const auto& v : vocab.values.back()) {
        std::string p = parts[0];
        p.replace(p.find("{}"), 2, v);
        prompts.push_back(p);
      }
      vocab.prompts.push_back(prompts);
      matchDatasetAttribute(info, vocab, vocab.groups.size() - 1);
    }
    return vocab;
  }
  if (info.attribute_names == data::synthAttributeNames()) {
    const auto prompts = data::readoutPrompts();
    for (size_t a = 0; a < info.attribute_names.size(); ++a) {
      vocab.groups.push_back(info.attribute_names[a]);
      vocab.values.push_back(info.attribute_values[a]);
      vocab.prompts.push_back(prompts[a]);
      vocab.dataset_attribute.push_back(static_cast<int>(a));
    }
  }
  return vocab;
}

std::vector<at::Tensor> readoutPromptFeatures(const ClipTokenizer& tokenizer,
                                              const TextTransformer& text,
                                              const ReadoutVocabulary& vocab, c10::Device device) {
  at::NoGradGuard no_grad;
  TokenizeOptions opts;
  opts.context_length = text.config().context_length;
  std::vector<at::Tensor> out;
  for (const auto& prompts : vocab.prompts) {
    std::vector<int64_t> ids;
    for (const auto& p : prompts) {
      const auto t = tokenizer.tokenize(p, opts);
      ids.insert(ids.end(), t.begin(), t.end());
    }
    const at::Tensor batch =
        at::tensor(ids, at::kLong).view({static_cast<int64_t>(prompts.size()), -1});
    out.push_back(text.forward(batch.to(device)).to(at::kCPU));
  }
  return out;
}

at::Tensor readoutAttributes(const at::Tensor& features,
                             const std::vector<at::Tensor>& value_features) {
  auto normalize = [](const at::Tensor& x) {
    const at::Tensor xf = x.to(at::kFloat);
    return xf / xf.norm(2, 1, true).clamp_min(1e-12);
  };
  const at::Tensor f = normalize(features);
  std::vector<at::Tensor> columns;
  for (const auto& v : value_features) {
    columns.push_back(at::matmul(f, normalize(v).t()).argmax(1));
  }
  return at::stack(columns, 1).to(at::kLong);
}

at::Tensor readoutGroundTruth(const at::Tensor& identity_attributes,
                              const ReadoutVocabulary& vocab) {
  const bool any = std::any_of(vocab.dataset_attribute.begin(), vocab.dataset_attribute.end(),
                               [](int a) { return a >= 0; });
  if (!any || !identity_attributes.defined()) return {};
  const int64_t groups = static_cast<int64_t>(vocab.groups.size());
  at::Tensor truth = at::full({identity_attributes.size(0), groups}, -1, at::kLong);
  for (int64_t g = 0; g < groups; ++g) {
    const int a = vocab.dataset_attribute[g];
    if (a >= 0) truth.select(1, g).copy_(identity_attributes.select(1, a));
  }
  return truth;
}

std::vector<std::string> describeReadout(const std::vector<std::string>& groups,
                                         const at::Tensor& predicted, const at::Tensor& image,
                                         const at::Tensor& truth) {
  std::vector<std::string> lines;
  if (!predicted.defined() || !truth.defined()) return lines;
  lines.emplace_back("  attribute       pseudo-label  image  majority");
  char buf[160];
  for (size_t g = 0; g < groups.size(); ++g) {
    const at::Tensor t = truth.select(1, static_cast<int64_t>(g));
    const at::Tensor valid = t.ge(0);
    const int64_t n = valid.sum().item<int64_t>();
    if (n == 0) continue;
    auto accuracy = [&](const at::Tensor& p) {
      return p.select(1, static_cast<int64_t>(g)).eq(t).logical_and(valid).sum().item<double>() / n;
    };
    const double majority = at::bincount(t.masked_select(valid)).max().item<double>() / n;
    std::snprintf(buf, sizeof(buf), "  %-15s %12.3f %6.3f %9.3f", groups[g].c_str(),
                  accuracy(predicted), image.defined() ? accuracy(image) : -1.0, majority);
    lines.emplace_back(buf);
  }
  return lines;
}

double readoutAccuracy(const at::Tensor& predicted, const at::Tensor& truth) {
  if (!predicted.defined() || !truth.defined()) return -1;
  const at::Tensor valid = truth.ge(0);
  const int64_t n = valid.sum().item<int64_t>();
  if (n == 0) return -1;
  return predicted.eq(truth).logical_and(valid).sum().item<double>() / static_cast<double>(n);
}

}  // namespace agreid::trainer
