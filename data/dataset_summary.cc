#include "data/dataset_summary.h"

#include <cstdio>
#include <set>
#include <sstream>

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
  return os.str();
}

}  // namespace agreid::data
