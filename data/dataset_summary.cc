#include "data/dataset_summary.h"

#include <cstdio>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace agreid::data {

std::array<SplitStats, 3> splitStats(const SampleTable& samples) {
  std::array<SplitStats, 3> stats{};
  std::array<std::set<int32_t>, 3> pids;
  std::array<std::set<int16_t>, 3> cams;
  for (size_t i = 0; i < samples.pid.size(); ++i) {
    const int s = samples.split[i];
    if (s > 2) continue;  // the reader rejects such files; the importer never writes them
    ++stats[s].images;
    if (samples.pid[i] == 0) {
      ++stats[s].distractors;
    } else {
      pids[s].insert(samples.pid[i]);
    }
    cams[s].insert(samples.camid[i]);
    if (samples.occluded[i]) ++stats[s].occluded;
  }
  for (int s = 0; s < 3; ++s) {
    stats[s].identities = static_cast<int64_t>(pids[s].size());
    stats[s].cameras = static_cast<int64_t>(cams[s].size());
  }
  return stats;
}

std::string formatSplitStats(const std::array<SplitStats, 3>& stats) {
  std::ostringstream os;
  for (int s = 0; s < 3; ++s) {
    const SplitStats& st = stats[s];
    const double occluded_pct = st.images ? 100.0 * st.occluded / st.images : 0.0;
    char line[200];
    std::snprintf(line, sizeof(line),
                  "  %-8s %8lld images  %6lld identities  %3lld cameras  %5.1f%% occluded",
                  splitName(static_cast<Split>(s)), static_cast<long long>(st.images),
                  static_cast<long long>(st.identities), static_cast<long long>(st.cameras),
                  occluded_pct);
    os << line;
    if (st.distractors > 0) os << "  (" << st.distractors << " distractor images, pid 0)";
    os << "\n";
  }
  return os.str();
}

std::string formatVisibility(const DatasetReader& reader) {
  const std::vector<float>& vis = reader.visibility();
  const std::vector<uint8_t>& occluded = reader.samples().occluded;
  const std::vector<std::string>& names = reader.info().attribute_names;
  const size_t n = occluded.size(), num_attr = names.size();
  if (vis.empty() || num_attr == 0) return "";
  std::ostringstream os;
  // Means per attribute over occluded ([1]) and holistic ([0]) images.
  std::vector<double> sum[2] = {std::vector<double>(num_attr), std::vector<double>(num_attr)};
  int64_t count[2] = {0, 0};
  for (size_t i = 0; i < n; ++i) {
    const int o = occluded[i] ? 1 : 0;
    ++count[o];
    for (size_t a = 0; a < num_attr; ++a) sum[o][a] += vis[i * num_attr + a];
  }
  os << "  visibility:     mean visible fraction of each attribute's region, occluded (" << count[1]
     << ") / holistic (" << count[0] << ")\n";
  auto mean = [&](int o, size_t a) {
    if (count[o] == 0) return std::string("   -");
    char buf[16];
    std::snprintf(buf, sizeof(buf), "%4.2f", sum[o][a] / count[o]);
    return std::string(buf);
  };
  for (size_t a = 0; a < num_attr; ++a) {
    char line[160];
    std::snprintf(line, sizeof(line), "    %-16s %s / %s\n", names[a].c_str(), mean(1, a).c_str(),
                  mean(0, a).c_str());
    os << line;
  }
  return os.str();
}

std::string describeDataset(const DatasetReader& reader) {
  const DatasetInfo& info = reader.info();
  std::ostringstream os;
  os << reader.path() << ": agreid dataset\n"
     << "  format version: " << info.format_version << "\n"
     << "  dataset:        " << info.name << "\n"
     << "  source:         " << info.source << "\n"
     << "  checksum:       " << info.checksum << "\n"
     << "  samples:        " << reader.size() << "\n"
     << formatSplitStats(splitStats(reader.samples()));
  os << "  attributes:     ";
  if (info.attribute_names.empty()) {
    os << "none\n";
  } else {
    os << info.attribute_names.size() << " (";
    for (size_t a = 0; a < info.attribute_names.size(); ++a) {
      os << (a ? ", " : "") << info.attribute_names[a];
      if (a < info.attribute_values.size() && !info.attribute_values[a].empty()) {
        os << ":" << info.attribute_values[a].size();
      }
    }
    os << ")\n";
  }
  os << "  captions:       " << (info.has_captions ? "yes" : "none") << "\n";
  if (info.has_visibility) os << formatVisibility(reader);
  return os.str();
}

}  // namespace agreid::data
