#include "launch/sweep_results.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "base/error.h"
#include "trainer/eval/results.h"
#include "trainer/util/atomic_file.h"
#include "trainer/util/json.h"

namespace agreid::launch {
namespace {

namespace fs = std::filesystem;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Adds the numbers of `value` under dotted keys; null (an undefined metric) becomes NaN. Arrays,
// strings and booleans are not tabulated.
void flattenNumbers(const trainer::Json& value, const std::string& key,
                    std::map<std::string, double>& out) {
  if (value.is_object()) {
    for (const auto& [name, member] : value.items())
      flattenNumbers(member, key.empty() ? name : key + "." + name, out);
  } else if (value.is_number()) {
    out[key] = value.get<double>();
  } else if (value.is_null()) {
    out[key] = kNaN;
  }
}

std::string formatNumber(double v) {
  if (std::isnan(v)) return "nan";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

// A TOML literal for display: strings lose their quotes.
std::string displayValue(const std::string& literal) {
  if (literal.size() >= 2 && literal.front() == '"') {
    try {
      auto t = toml::parse("v = " + literal);
      if (auto s = t["v"].value<std::string>()) return *s;
    } catch (const toml::parse_error&) {
    }
  }
  return literal;
}

const std::vector<std::string>& mainMetricColumns() {
  static const std::vector<std::string> columns = [] {
    std::vector<std::string> v;
    for (const auto& prefix : trainer::resultSubsetPrefixes())
      for (const auto& name : trainer::resultRankingMetrics()) v.push_back(prefix + name);
    return v;
  }();
  return columns;
}

// The table's rows (header first). `main_only`: of the metric columns only the sort metric and
// the ranking metrics (the Markdown table a person reads); otherwise all (the CSV).
std::vector<std::vector<std::string>> tableRows(const SweepResults& r, bool main_only) {
  std::vector<std::string> columns;
  for (const auto& c : r.columns) {
    const auto& main = mainMetricColumns();
    if (!main_only || c == r.metric_column || std::find(main.begin(), main.end(), c) != main.end())
      columns.push_back(c);
  }
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"rank", "point", "status"};
  header.insert(header.end(), r.keys.begin(), r.keys.end());
  header.insert(header.end(), columns.begin(), columns.end());
  header.push_back("out_dir");
  rows.push_back(header);
  int64_t rank = 0;
  for (const auto& row : r.rows) {
    std::vector<std::string> cells = {row.has_metric ? std::to_string(++rank) : "-",
                                      std::to_string(row.index), row.status};
    for (const auto& key : r.keys) {
      std::string v;
      for (const auto& [k, val] : row.params)
        if (k == key) v = displayValue(val);
      cells.push_back(v);
    }
    for (const auto& c : columns) {
      auto it = row.metrics.find(c);
      cells.push_back(it == row.metrics.end() ? "" : formatNumber(it->second));
    }
    cells.push_back(row.out_dir);
    rows.push_back(std::move(cells));
  }
  return rows;
}

}  // namespace

std::map<std::string, double> parseFlatJsonNumbers(const std::string& text,
                                                   const std::string& where) {
  const trainer::Json root = trainer::parseJson(text, where);
  if (!root.is_object()) throw InputError(where + ": expected a JSON object");
  std::map<std::string, double> out;
  flattenNumbers(root, "", out);
  return out;
}

SweepResults collectSweep(const std::string& dir_in) {
  SweepResults r;
  r.dir = dir_in;
  while (r.dir.size() > 1 && r.dir.back() == '/') r.dir.pop_back();
  const std::string info_path = r.dir + "/sweep.toml", runs_path = r.dir + "/runs.tsv";
  std::error_code ec;
  if (!fs::is_regular_file(info_path, ec) || !fs::is_regular_file(runs_path, ec)) {
    throw InputError(r.dir +
                     ": not a sweep folder (expected sweep.toml and runs.tsv written by "
                     "agreid sweep --submit or --local)");
  }
  toml::table info;
  try {
    info = toml::parse_file(info_path);
  } catch (const toml::parse_error& e) {
    throw InputError(info_path + ": invalid TOML: " + std::string(e.description()));
  }
  r.metric = info["metric"].value_or(std::string("mAP"));
  r.mode = info["mode"].value_or(std::string("max"));
  if (auto keys = info["keys"].as_array()) {
    for (const auto& k : *keys)
      if (auto s = k.value<std::string>()) r.keys.push_back(*s);
  }

  std::istringstream runs(trainer::readFileText(runs_path));
  std::string line;
  while (std::getline(runs, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields;
    std::istringstream fs_line(line);
    std::string f;
    while (std::getline(fs_line, f, '\t')) fields.push_back(f);
    if (fields.size() < 2) throw InputError(runs_path + ": malformed row '" + line + "'");
    SweepResultRow row;
    row.index = std::strtoll(fields[0].c_str(), nullptr, 10);
    row.out_dir = fields[1];
    for (size_t i = 2; i < fields.size(); ++i) {
      const auto eq = fields[i].find('=');
      const std::string key = fields[i].substr(0, eq);
      if (std::find(r.keys.begin(), r.keys.end(), key) != r.keys.end()) {
        row.params.emplace_back(key, fields[i].substr(eq + 1));
      }
    }
    std::string status = trainer::readFileText(r.dir + "/status/" + std::to_string(row.index));
    while (!status.empty() && std::isspace(static_cast<unsigned char>(status.back())))
      status.pop_back();
    const std::string results_path = row.out_dir + "/results.json";
    if (fs::is_regular_file(results_path, ec)) {
      try {
        row.metrics = parseFlatJsonNumbers(trainer::readFileText(results_path), results_path);
        row.status = "ok";
      } catch (const InputError& e) {
        row.status = "failed (unreadable results.json)";
      }
    } else if (status.empty()) {
      row.status = "missing";
    } else if (status == "running" || status == "requeued") {
      row.status = status;
    } else if (status == "0") {
      row.status = "failed (no results.json)";
    } else {
      row.status = "failed (exit " + status + ")";
    }
    r.rows.push_back(std::move(row));
  }

  // The column the metric names: exact key, else the unique key ending in ".<metric>".
  std::vector<std::string> all_columns;
  for (const auto& row : r.rows)
    for (const auto& [k, v] : row.metrics)
      if (std::find(all_columns.begin(), all_columns.end(), k) == all_columns.end())
        all_columns.push_back(k);
  if (std::find(all_columns.begin(), all_columns.end(), r.metric) != all_columns.end()) {
    r.metric_column = r.metric;
  } else {
    std::vector<std::string> matches;
    for (const auto& c : all_columns) {
      if (c.size() > r.metric.size() &&
          c.compare(c.size() - r.metric.size() - 1, std::string::npos, "." + r.metric) == 0) {
        matches.push_back(c);
      }
    }
    if (matches.size() == 1) r.metric_column = matches[0];
  }
  // The sort metric first, then the ranking metrics in report order (all queries, holistic,
  // occluded), then anything else results.json holds, by name.
  if (!r.metric_column.empty()) r.columns.push_back(r.metric_column);
  for (const auto& name : mainMetricColumns()) {
    if (name != r.metric_column &&
        std::find(all_columns.begin(), all_columns.end(), name) != all_columns.end()) {
      r.columns.push_back(name);
    }
  }
  std::sort(all_columns.begin(), all_columns.end());
  for (const auto& c : all_columns)
    if (std::find(r.columns.begin(), r.columns.end(), c) == r.columns.end()) r.columns.push_back(c);

  for (auto& row : r.rows) {
    auto it = row.metrics.find(r.metric_column);
    if (!r.metric_column.empty() && it != row.metrics.end() && !std::isnan(it->second)) {
      row.has_metric = true;
      row.metric = it->second;
    }
  }
  const bool maximise = r.mode != "min";
  std::stable_sort(r.rows.begin(), r.rows.end(),
                   [&](const SweepResultRow& a, const SweepResultRow& b) {
                     if (a.has_metric != b.has_metric) return a.has_metric;
                     if (a.has_metric && a.metric != b.metric) {
                       return maximise ? a.metric > b.metric : a.metric < b.metric;
                     }
                     const bool a_ok = a.status == "ok", b_ok = b.status == "ok";
                     if (a_ok != b_ok) return a_ok;
                     return a.index < b.index;
                   });
  trainer::writeFileAtomically(r.dir + "/results.csv", resultsCsv(r));
  trainer::writeFileAtomically(r.dir + "/results.md", resultsMarkdown(r));
  return r;
}

std::string resultsCsv(const SweepResults& results) {
  std::ostringstream os;
  for (const auto& row : tableRows(results, false)) {
    for (size_t i = 0; i < row.size(); ++i) {
      std::string cell = row[i];
      if (cell.find_first_of(",\"\n") != std::string::npos) {
        std::string q = "\"";
        for (char c : cell) q += (c == '"') ? std::string("\"\"") : std::string(1, c);
        cell = q + "\"";
      }
      os << (i ? "," : "") << cell;
    }
    os << "\n";
  }
  return os.str();
}

std::string resultsMarkdown(const SweepResults& results) {
  std::ostringstream os;
  const auto rows = tableRows(results, true);
  for (size_t r = 0; r < rows.size(); ++r) {
    os << "|";
    for (const auto& cell : rows[r]) {
      std::string c = cell;
      std::replace(c.begin(), c.end(), '|', '/');
      os << " " << c << " |";
    }
    os << "\n";
    if (r == 0) {
      os << "|";
      for (size_t i = 0; i < rows[0].size(); ++i) os << "---|";
      os << "\n";
    }
  }
  return os.str();
}

}  // namespace agreid::launch
