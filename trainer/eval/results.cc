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

}  // namespace

const std::vector<std::string>& resultRankingMetrics() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v = {"mAP"};
    for (int k : kReportedRanks) v.push_back("rank" + std::to_string(k));
    v.push_back("mINP");
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
