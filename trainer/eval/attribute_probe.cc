#include "trainer/eval/attribute_probe.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>

#include "base/check.h"
#include "trainer/util/json.h"

namespace agreid::trainer {
namespace {

// Running counts of one accuracy.
struct Tally {
  int64_t cells = 0, correct = 0, majority_correct = 0;
  void add(bool hit, bool majority_hit) {
    ++cells;
    correct += hit;
    majority_correct += majority_hit;
  }
  ProbeAccuracy result() const {
    ProbeAccuracy a;
    a.cells = cells;
    const double undefined = std::numeric_limits<double>::quiet_NaN();
    a.accuracy = cells > 0 ? static_cast<double>(correct) / cells : undefined;
    a.majority = cells > 0 ? static_cast<double>(majority_correct) / cells : undefined;
    return a;
  }
};

struct GroupTally {
  Tally all, visible, hidden;
};

// The fold of each image: identities in sorted order are dealt to the folds in turn.
std::vector<int64_t> identityFolds(const std::vector<int64_t>& pids, int64_t folds,
                                   int64_t* identities) {
  std::vector<int64_t> distinct(pids.begin(), pids.end());
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  *identities = static_cast<int64_t>(distinct.size());
  std::vector<int64_t> fold(pids.size());
  for (size_t i = 0; i < pids.size(); ++i) {
    const auto at = std::lower_bound(distinct.begin(), distinct.end(), pids[i]) - distinct.begin();
    fold[i] = static_cast<int64_t>(at) % folds;
  }
  return fold;
}

// Ridge regression onto one-hot targets: W = (X'X + ridge I)^-1 X'Y with a bias column (not
// penalised less: the features are unit vectors and the bias is one more input of norm 1).
at::Tensor ridgeWeights(const at::Tensor& x, const at::Tensor& y, double ridge) {
  const at::Tensor gram = x.t().mm(x) + ridge * at::eye(x.size(1), x.options());
  return at::linalg_solve(gram, x.t().mm(y));
}

OrderedJson accuracyJson(const ProbeAccuracy& a) {
  OrderedJson j;
  j["accuracy"] = a.accuracy;
  j["majority"] = a.majority;
  j["cells"] = a.cells;
  return j;
}

std::string accuracyText(const ProbeAccuracy& a) {
  if (a.cells == 0) return "- (0)";
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%.3f (majority %.3f, %lld)", a.accuracy, a.majority,
                static_cast<long long>(a.cells));
  return buf;
}

}  // namespace

AttributeProbeReport probeAttributes(const at::Tensor& features, const std::vector<int64_t>& pids,
                                     const at::Tensor& truth, const at::Tensor& visibility,
                                     const std::vector<std::string>& names,
                                     const AttributeProbeOptions& options) {
  AGREID_CHECK(features.dim() == 2 && truth.dim() == 2, "probe needs [N, D] and [N, G]");
  const int64_t n = features.size(0), groups = truth.size(1);
  AGREID_CHECK(truth.size(0) == n && static_cast<int64_t>(pids.size()) == n,
               "probe: features, truth and pids differ in length");
  AGREID_CHECK(static_cast<int64_t>(names.size()) == groups, "probe: one name per attribute");
  AGREID_CHECK(!visibility.defined() || visibility.sizes() == truth.sizes(),
               "probe: visibility must match truth");
  AGREID_CHECK(options.folds >= 2, "probe: at least 2 folds");
  AttributeProbeReport report;
  report.images = n;
  report.has_visibility = visibility.defined();
  const std::vector<int64_t> fold = identityFolds(pids, options.folds, &report.identities);
  AGREID_CHECK(report.identities >= 2, "probe: needs at least 2 identities");
  report.folds = std::min(options.folds, report.identities);

  const at::Tensor x = at::cat({features.to(at::kDouble), at::ones({n, 1}, at::kDouble)}, 1);
  const at::Tensor t = truth.to(at::kLong).contiguous();
  const auto ta = t.accessor<int64_t, 2>();
  at::Tensor vis;
  if (visibility.defined()) vis = visibility.to(at::kFloat).contiguous();

  // Columns of the one-hot targets: group g's values occupy [offset[g], offset[g] + values[g]).
  std::vector<int64_t> values(groups, 0), offset(groups + 1, 0);
  for (int64_t g = 0; g < groups; ++g) {
    values[g] = std::max<int64_t>(t.select(1, g).max().item<int64_t>() + 1, 0);
    offset[g + 1] = offset[g] + values[g];
  }
  at::Tensor y = at::zeros({n, offset[groups]}, at::kDouble);
  auto ya = y.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t g = 0; g < groups; ++g)
      if (ta[i][g] >= 0) ya[i][offset[g] + ta[i][g]] = 1.0;

  std::vector<GroupTally> tally(groups);
  for (int64_t f = 0; f < report.folds; ++f) {
    std::vector<int64_t> train_rows, test_rows;
    for (int64_t i = 0; i < n; ++i) (fold[i] == f ? test_rows : train_rows).push_back(i);
    if (train_rows.empty() || test_rows.empty()) continue;
    const at::Tensor train_index = at::tensor(train_rows, at::kLong);
    const at::Tensor test_index = at::tensor(test_rows, at::kLong);
    const at::Tensor w =
        ridgeWeights(x.index_select(0, train_index), y.index_select(0, train_index), options.ridge);
    const at::Tensor scores = x.index_select(0, test_index).mm(w);
    // Majority value of each group among the training fold's images.
    const at::Tensor counts = y.index_select(0, train_index).sum(0);
    for (int64_t g = 0; g < groups; ++g) {
      if (values[g] == 0) continue;
      const int64_t majority = counts.narrow(0, offset[g], values[g]).argmax().item<int64_t>();
      const at::Tensor predicted = scores.narrow(1, offset[g], values[g]).argmax(1).contiguous();
      const auto pa = predicted.accessor<int64_t, 1>();
      for (size_t r = 0; r < test_rows.size(); ++r) {
        const int64_t i = test_rows[r];
        const int64_t truth_value = ta[i][g];
        if (truth_value < 0) continue;
        const bool hit = pa[static_cast<int64_t>(r)] == truth_value;
        const bool majority_hit = majority == truth_value;
        tally[g].all.add(hit, majority_hit);
        if (!vis.defined()) continue;
        (vis.accessor<float, 2>()[i][g] >= options.visible_threshold ? tally[g].visible
                                                                     : tally[g].hidden)
            .add(hit, majority_hit);
      }
    }
  }

  Tally all, visible, hidden;
  for (int64_t g = 0; g < groups; ++g) {
    if (tally[g].all.cells == 0) continue;
    AttributeProbeGroup out;
    out.name = names[g];
    out.values = values[g];
    out.all = tally[g].all.result();
    out.visible = tally[g].visible.result();
    out.hidden = tally[g].hidden.result();
    report.groups.push_back(out);
    for (auto [total, part] : {std::pair<Tally*, const Tally*>{&all, &tally[g].all},
                               {&visible, &tally[g].visible},
                               {&hidden, &tally[g].hidden}}) {
      total->cells += part->cells;
      total->correct += part->correct;
      total->majority_correct += part->majority_correct;
    }
  }
  report.all = all.result();
  report.visible = visible.result();
  report.hidden = hidden.result();
  return report;
}

std::string attributeProbeJson(const AttributeProbeReport& report) {
  OrderedJson j;
  j["images"] = report.images;
  j["identities"] = report.identities;
  j["folds"] = report.folds;
  j["all"] = accuracyJson(report.all);
  if (report.has_visibility) {
    j["visible"] = accuracyJson(report.visible);
    j["hidden"] = accuracyJson(report.hidden);
  }
  OrderedJson groups = OrderedJson::object();
  for (const auto& g : report.groups) {
    OrderedJson one;
    one["values"] = g.values;
    one["all"] = accuracyJson(g.all);
    if (report.has_visibility) {
      one["visible"] = accuracyJson(g.visible);
      one["hidden"] = accuracyJson(g.hidden);
    }
    groups[g.name] = one;
  }
  j["groups"] = groups;
  return jsonText(j, 2) + "\n";
}

std::vector<std::string> describeAttributeProbe(const AttributeProbeReport& report) {
  std::vector<std::string> lines;
  std::string head = "linear attribute probe (" + std::to_string(report.folds) + " folds over " +
                     std::to_string(report.identities) + " identities): all " +
                     accuracyText(report.all);
  if (report.has_visibility) {
    head += "; region visible " + accuracyText(report.visible) + "; hidden " +
            accuracyText(report.hidden);
  }
  lines.push_back(head);
  for (const auto& g : report.groups) {
    char name[32];
    std::snprintf(name, sizeof(name), "  %-14s ", g.name.c_str());
    std::string line = name + accuracyText(g.all);
    if (report.has_visibility)
      line += "  visible " + accuracyText(g.visible) + "  hidden " + accuracyText(g.hidden);
    lines.push_back(line);
  }
  return lines;
}

}  // namespace agreid::trainer
