#include "trainer/stages/zero_shot.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "base/check.h"

namespace agreid::trainer {
namespace {

at::Tensor normalizeRows(const at::Tensor& x) {
  const at::Tensor xf = x.to(at::kFloat);
  return xf / xf.norm(2, 1, true).clamp_min(1e-12);
}

bool isColour(const std::string& name) {
  const std::string suffix = "colour";
  return name.size() >= suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

HeldOutSplit splitHeldOutPeople(const std::vector<int32_t>& pids, int64_t people, uint64_t seed) {
  std::vector<int32_t> distinct(pids.begin(), pids.end());
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  const int64_t k =
      std::min<int64_t>(std::max<int64_t>(people, 0), static_cast<int64_t>(distinct.size()) / 5);
  auto gen = at::detail::createCPUGenerator(seed);
  const at::Tensor perm = at::randperm(static_cast<int64_t>(distinct.size()), gen,
                                       at::TensorOptions().dtype(at::kLong));
  std::vector<int32_t> held;
  for (int64_t i = 0; i < k; ++i) held.push_back(distinct[perm[i].item<int64_t>()]);
  std::sort(held.begin(), held.end());
  HeldOutSplit split;
  std::vector<bool> seen(held.size(), false);
  for (size_t i = 0; i < pids.size(); ++i) {
    const auto it = std::lower_bound(held.begin(), held.end(), pids[i]);
    if (it == held.end() || *it != pids[i]) {
      split.train.push_back(static_cast<int64_t>(i));
      continue;
    }
    split.holdout.push_back(static_cast<int64_t>(i));
    const size_t h = static_cast<size_t>(it - held.begin());
    if (!seen[h]) {
      seen[h] = true;
      split.people.push_back(static_cast<int64_t>(i));
    }
  }
  return split;
}

at::Tensor majorityValues(const at::Tensor& values) {
  AGREID_CHECK(values.dim() == 2, "majorityValues needs [N, G] values");
  const at::Tensor v = values.to(at::kLong).contiguous();
  const int64_t n = v.size(0), g = v.size(1);
  at::Tensor out = at::full({g}, -1, at::kLong);
  const auto acc = v.accessor<int64_t, 2>();
  for (int64_t c = 0; c < g; ++c) {
    std::map<int64_t, int64_t> counts;
    for (int64_t i = 0; i < n; ++i)
      if (acc[i][c] >= 0) ++counts[acc[i][c]];
    int64_t best = -1, best_count = 0;
    for (const auto& [value, count] : counts)
      if (count > best_count) best = value, best_count = count;
    out[c] = best;
  }
  return out;
}

void scoreZeroShotAttributes(const at::Tensor& image_features, const at::Tensor& truth,
                             const std::vector<at::Tensor>& value_features,
                             const std::vector<std::string>& names, const at::Tensor& majority,
                             ZeroShotReport& report, const at::Tensor& visibility) {
  const int64_t groups = static_cast<int64_t>(value_features.size());
  AGREID_CHECK(
      truth.dim() == 2 && truth.size(1) == groups && truth.size(0) == image_features.size(0),
      "zero-shot truth must be [M, G]");
  AGREID_CHECK(static_cast<int64_t>(names.size()) == groups && majority.numel() == groups,
               "zero-shot names and majority must have one entry per group");
  AGREID_CHECK(!visibility.defined() || visibility.sizes() == truth.sizes(),
               "zero-shot visibility must match truth");
  const at::Tensor f = normalizeRows(image_features);
  double colour_sum = 0, colour_majority = 0, colour_visible = 0, colour_visible_majority = 0;
  int colours = 0;
  for (int64_t g = 0; g < groups; ++g) {
    const at::Tensor t = truth.select(1, g).to(at::kLong);
    const at::Tensor valid = t.ge(0);
    AttributeScore s;
    s.name = names[g];
    s.values = value_features[g].size(0);
    s.images = valid.sum().item<int64_t>();
    if (s.images == 0) continue;
    const at::Tensor predicted = at::matmul(f, normalizeRows(value_features[g]).t()).argmax(1);
    s.accuracy = predicted.eq(t).logical_and(valid).sum().item<double>() / s.images;
    const at::Tensor majority_hit = t.eq(majority[g].item<int64_t>()).logical_and(valid);
    s.majority = majority_hit.sum().item<double>() / s.images;
    if (visibility.defined()) {
      const at::Tensor seen = valid.logical_and(visibility.select(1, g).ge(0.5));
      s.visible_images = seen.sum().item<int64_t>();
      const double n = static_cast<double>(std::max<int64_t>(s.visible_images, 1));
      s.visible_accuracy = predicted.eq(t).logical_and(seen).sum().item<double>() / n;
      s.visible_majority = majority_hit.logical_and(seen).sum().item<double>() / n;
    }
    if (isColour(s.name)) {
      colour_sum += s.accuracy;
      colour_majority += s.majority;
      colour_visible += s.visible_accuracy;
      colour_visible_majority += s.visible_majority;
      ++colours;
    }
    report.attributes.push_back(s);
  }
  if (colours > 0) {
    report.colour_accuracy = colour_sum / colours;
    report.colour_majority = colour_majority / colours;
    if (visibility.defined()) {
      report.colour_visible_accuracy = colour_visible / colours;
      report.colour_visible_majority = colour_visible_majority / colours;
    }
  }
}

std::pair<double, double> retrievalRecall(const at::Tensor& image, const at::Tensor& text) {
  const at::Tensor sim = at::mm(normalizeRows(image), normalizeRows(text).t());
  const int64_t n = sim.size(0);
  if (n == 0) return {0.0, 0.0};
  const at::Tensor own = sim.diagonal().unsqueeze(1);
  // Rank of the own caption = number of captions scoring strictly higher.
  const at::Tensor rank = sim.gt(own).sum(1);
  return {rank.lt(1).sum().item<double>() / n, rank.lt(5).sum().item<double>() / n};
}

std::vector<std::string> describeZeroShot(const ZeroShotReport& r) {
  std::vector<std::string> lines;
  char buf[256];
  for (const auto& a : r.attributes) {
    std::snprintf(buf, sizeof(buf), "  %-14s %.3f  (majority %.3f, %lld values)", a.name.c_str(),
                  a.accuracy, a.majority, static_cast<long long>(a.values));
    std::string line = buf;
    if (a.visible_accuracy >= 0) {
      std::snprintf(buf, sizeof(buf), "  where visible %.3f (majority %.3f, %lld images)",
                    a.visible_accuracy, a.visible_majority,
                    static_cast<long long>(a.visible_images));
      line += buf;
    }
    lines.push_back(line);
  }
  if (r.colour_accuracy >= 0) {
    std::snprintf(buf, sizeof(buf), "  %-14s %.3f  (majority %.3f)", "colours (mean)",
                  r.colour_accuracy, r.colour_majority);
    std::string line = buf;
    if (r.colour_visible_accuracy >= 0) {
      std::snprintf(buf, sizeof(buf), "                      where visible %.3f (majority %.3f)",
                    r.colour_visible_accuracy, r.colour_visible_majority);
      line += buf;
    }
    lines.push_back(line);
  }
  return lines;
}

}  // namespace agreid::trainer
