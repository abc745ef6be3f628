#include "trainer/eval/results.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "trainer/util/json.h"

namespace agreid::trainer {
namespace {

std::string percent(double v) {
  if (!std::isfinite(v)) return "-";
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.2f", 100.0 * v);
  return buf;
}

constexpr int kReportedRanks[] = {1, 5, 10, 20};

OrderedJson metricsJson(const RankingMetrics& m) {
  OrderedJson j;
  j["mAP"] = m.map;
  for (int k : kReportedRanks) j["rank" + std::to_string(k)] = m.rank(k);
  j["mINP"] = m.minp;
  j["num_query"] = m.num_query;
  j["num_valid_query"] = m.num_valid_query;
  j["cmc"] = m.cmc;
  return j;
}

// The query groups of `r` with their names, "all" first.
std::vector<std::pair<std::string, const RankingMetrics*>> groups(const EvalResults& r) {
  std::vector<std::pair<std::string, const RankingMetrics*>> out = {{"all", &r.all}};
  if (r.holistic) out.emplace_back("holistic", &*r.holistic);
  if (r.occluded) out.emplace_back("occluded", &*r.occluded);
  return out;
}

// The rate metrics of resultRankingMetrics() for one group, in display order.
std::vector<std::pair<std::string, double>> rates(const RankingMetrics& m) {
  std::vector<std::pair<std::string, double>> out = {{"mAP", m.map}};
  for (int k : kReportedRanks) out.emplace_back("rank" + std::to_string(k), m.rank(k));
  out.emplace_back("mINP", m.minp);
  return out;
}

}  // namespace

std::string resultsSummary(const EvalResults& r) {
  std::string out;
  for (const auto& [name, m] : groups(r)) {
    out +=
        (out.empty() ? "" : ", ") + name + " mAP " + percent(m->map) + " R1 " + percent(m->rank(1));
  }
  return out;
}

std::string evalMetricsRecord(int64_t step, int64_t epoch, const EvalResults& r) {
  OrderedJson j;
  j["stage"] = "eval";
  j["step"] = step;
  if (epoch >= 0) j["epoch"] = epoch;
  for (const auto& [name, m] : groups(r)) {
    OrderedJson g;
    for (const auto& [metric, value] : rates(*m)) g[metric] = value;
    g["num_query"] = m->num_query;
    j[name] = g;
  }
  return jsonText(j);
}

std::map<std::string, double> evalMetricsScalars(const EvalResults& r) {
  std::map<std::string, double> out;
  for (const auto& [name, m] : groups(r)) {
    for (const auto& [metric, value] : rates(*m)) out["eval/" + name + "/" + metric] = value;
  }
  return out;
}

const std::vector<std::string>& resultRankingMetrics() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& rate : rates(RankingMetrics{})) v.push_back(rate.first);
    return v;
  }();
  return names;
}

const std::vector<std::string>& resultSubsetPrefixes() {
  static const std::vector<std::string> prefixes = {"", "subsets.holistic.", "subsets.occluded."};
  return prefixes;
}

std::string resultsToJson(const EvalResults& r) {
  OrderedJson j = metricsJson(r.all);
  j["num_gallery"] = r.num_gallery;
  j["reranked"] = r.reranked;
  if (r.holistic) j["subsets"]["holistic"] = metricsJson(*r.holistic);
  if (r.occluded) j["subsets"]["occluded"] = metricsJson(*r.occluded);
  return jsonText(j, 2) + "\n";
}

void writeResultsJson(const std::string& path, const EvalResults& results) {
  writeFileAtomically(path, resultsToJson(results));
}

std::string resultsMarkdown(const EvalResults& r) {
  std::ostringstream os;
  os << "| queries | valid | gallery | mAP | Rank-1 | Rank-5 | Rank-10 | Rank-20 | mINP |\n"
     << "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  auto row = [&](const std::string& name, const RankingMetrics& m) {
    os << "| " << name << " (" << m.num_query << ") | " << m.num_valid_query << " | "
       << r.num_gallery << " | " << percent(m.map) << " | " << percent(m.rank(1)) << " | "
       << percent(m.rank(5)) << " | " << percent(m.rank(10)) << " | " << percent(m.rank(20))
       << " | " << percent(m.minp) << " |\n";
  };
  row(r.reranked ? "all, re-ranked" : "all", r.all);
  if (r.holistic) row("holistic", *r.holistic);
  if (r.occluded) row("occluded", *r.occluded);
  return os.str();
}

}  // namespace agreid::trainer
