// agreid report DIR...: one table over finished runs -- mAP / Rank-1 on all, holistic and
// occluded queries, and the pseudo-label attribute readout accuracy. A DIR holding results.json
// is one run; the sub-folders of a DIR that hold results.json are grouped by their recorded
// configuration (config.toml) with the seed set aside, and each group -- the seeds of one
// configuration -- is one row, the mean +- standard deviation over its runs. Runs that differ in
// anything but the seed are never averaged together. This is the table the quickstart prints.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "base/error.h"
#include "launch/commands.h"
#include "launch/config_record.h"
#include "launch/sweep_results.h"
#include "trainer/util/atomic_file.h"

namespace agreid::launch {
namespace {

namespace fs = std::filesystem;

// Metrics of one run folder: results.json plus pseudo_label.json when present.
std::map<std::string, double> runMetrics(const fs::path& dir) {
  auto m = parseFlatJsonNumbers(trainer::readFileText((dir / "results.json").string()),
                                (dir / "results.json").string());
  if (fs::exists(dir / "pseudo_label.json")) {
    for (const auto& [k, v] :
         parseFlatJsonNumbers(trainer::readFileText((dir / "pseudo_label.json").string()),
                              (dir / "pseudo_label.json").string())) {
      m["pseudo_label." + k] = v;
    }
  }
  return m;
}

struct Column {
  std::string title;
  std::string key;
  double scale;
};

const std::vector<Column>& columns() {
  static const std::vector<Column> kColumns = {
      {"mAP (holistic q.)", "subsets.holistic.mAP", 100},
      {"R1 (holistic q.)", "subsets.holistic.rank1", 100},
      {"mAP (occluded q.)", "subsets.occluded.mAP", 100},
      {"R1 (occluded q.)", "subsets.occluded.rank1", 100},
      {"mAP (all)", "mAP", 100},
      {"R1 (all)", "rank1", 100},
      {"attribute readout", "pseudo_label.readout_accuracy", 100},
  };
  return kColumns;
}

std::string cell(const std::vector<std::map<std::string, double>>& runs, const Column& c) {
  std::vector<double> v;
  for (const auto& r : runs) {
    auto it = r.find(c.key);
    if (it != r.end() && std::isfinite(it->second) && it->second >= 0) {
      v.push_back(it->second * c.scale);
    }
  }
  if (v.empty()) return "–";
  double mean = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  std::ostringstream os;
  os << std::fixed << std::setprecision(1) << mean;
  if (v.size() > 1) {
    double var = 0;
    for (double x : v) var += (x - mean) * (x - mean);
    os << " ± " << std::sqrt(var / static_cast<double>(v.size() - 1));
  }
  return os.str();
}

// Groups the run folders (sorted) by their recorded configuration, seed aside: one group per
// configuration, in order of first appearance. A folder without config.toml is a group of its own.
std::vector<std::vector<fs::path>> groupBySeedOnly(const std::vector<fs::path>& dirs) {
  std::vector<std::pair<std::string, std::vector<fs::path>>> groups;
  for (const auto& d : dirs) {
    const fs::path recorded = d / "config.toml";
    std::string signature = "unrecorded:" + d.string();
    if (fs::exists(recorded)) {
      signature = resultSignature(
          configFromToml(trainer::readFileText(recorded.string()), recorded.string()),
          RunScope::kTraining, /*ignore_seed=*/true);
    }
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const auto& g) { return g.first == signature; });
    if (it == groups.end()) {
      groups.push_back({signature, {d}});
    } else {
      it->second.push_back(d);
    }
  }
  std::vector<std::vector<fs::path>> out;
  for (auto& g : groups) out.push_back(std::move(g.second));
  return out;
}

int runReport(const ParsedArgs& args, CommandContext&) {
  if (args.positionals.empty()) throw InputError("agreid report: give one or more run folders");
  std::ostringstream os;
  os << "| run | runs |";
  for (const auto& c : columns()) os << " " << c.title << " |";
  os << "\n|---|---:|";
  for (size_t i = 0; i < columns().size(); ++i) os << "---:|";
  os << "\n";
  for (const auto& arg : args.positionals) {
    const fs::path dir(arg);
    if (!fs::is_directory(dir)) throw InputError(arg + ": not a folder");
    std::vector<std::vector<fs::path>> groups;
    if (fs::exists(dir / "results.json")) {
      groups.push_back({dir});
    } else {
      std::vector<fs::path> subdirs;
      for (const auto& e : fs::directory_iterator(dir)) {
        if (e.is_directory() && fs::exists(e.path() / "results.json")) subdirs.push_back(e.path());
      }
      std::sort(subdirs.begin(), subdirs.end());
      groups = groupBySeedOnly(subdirs);
    }
    if (groups.empty()) throw InputError(arg + ": no results.json in it or in its sub-folders");
    for (const auto& group : groups) {
      std::vector<std::map<std::string, double>> runs;
      for (const auto& d : group) runs.push_back(runMetrics(d));
      // One configuration: the folder's name; several: the folder and the group's sub-folders.
      std::string name = dir.filename().string();
      if (groups.size() > 1) {
        name += "/";
        for (size_t i = 0; i < group.size(); ++i) {
          name += (i ? "+" : "") + group[i].filename().string();
        }
      }
      os << "| " << name << " | " << runs.size() << " |";
      for (const auto& c : columns()) os << " " << cell(runs, c) << " |";
      os << "\n";
    }
  }
  std::cout << os.str();
  return 0;
}

}  // namespace

CommandSpec reportCommand() {
  CommandSpec spec;
  spec.name = "report";
  spec.max_positionals = -1;
  spec.summary = "Table of finished runs: mAP / Rank-1 (holistic, occluded), attribute readout.";
  spec.usage = "agreid report RUN_DIR... ";
  spec.details =
      "Each RUN_DIR holds results.json (and pseudo_label.json), or sub-folders that do. "
      "Sub-folders\n"
      "whose recorded configurations (config.toml) differ only in run.seed are one row, mean ±\n"
      "standard deviation; the others are rows of their own (DIR/sub+sub). Values in percent.";
  spec.run = &runReport;
  return spec;
}

}  // namespace agreid::launch
