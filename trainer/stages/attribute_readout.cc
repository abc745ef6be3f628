#include "trainer/stages/attribute_readout.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <map>

#include "base/error.h"
#include "data/dataset.h"
#include "data/synth_world.h"

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

at::Tensor readoutGroundTruth(const data::DatasetReader& reader, const ReadoutVocabulary& vocab,
                              const std::vector<int64_t>& indices,
                              const std::vector<int64_t>& labels, int64_t num_ids) {
  const bool any = std::any_of(vocab.dataset_attribute.begin(), vocab.dataset_attribute.end(),
                               [](int a) { return a >= 0; });
  const auto& attrs = reader.attributes();
  if (!any || attrs.empty()) return {};
  const size_t num_attrs = reader.info().attribute_names.size();
  const int64_t groups = static_cast<int64_t>(vocab.groups.size());
  at::Tensor truth = at::full({num_ids, groups}, -1, at::kLong);
  auto acc = truth.accessor<int64_t, 2>();
  for (int64_t g = 0; g < groups; ++g) {
    const int a = vocab.dataset_attribute[g];
    if (a < 0) continue;
    std::vector<std::map<int32_t, int64_t>> counts(num_ids);
    for (size_t i = 0; i < indices.size(); ++i) {
      counts[labels[i]][attrs[indices[i] * num_attrs + a]] += 1;
    }
    for (int64_t k = 0; k < num_ids; ++k) {
      int64_t best = -1, best_count = 0;
      for (const auto& [value, count] : counts[k]) {
        if (count > best_count) best = value, best_count = count;
      }
      acc[k][g] = best;
    }
  }
  return truth;
}

double readoutAccuracy(const at::Tensor& predicted, const at::Tensor& truth) {
  if (!predicted.defined() || !truth.defined()) return -1;
  const at::Tensor valid = truth.ge(0);
  const int64_t n = valid.sum().item<int64_t>();
  if (n == 0) return -1;
  return predicted.eq(truth).logical_and(valid).sum().item<double>() / static_cast<double>(n);
}

}  // namespace agreid::trainer
