// `agreid sweep collect DIR`: gathers each point's results.json (written by `agreid run` /
// `agreid eval` into the point's run.out_dir) into one table sorted by the sweep's metric, with
// failed, running and missing points listed as such.
//
// results.json is a JSON object; nested objects are flattened with dots ({"all": {"mAP": 0.5}}
// gives the column all.mAP) and only numbers (and null, read as NaN: an undefined metric) become
// columns; a file that is not strict JSON (trainer/util/json.h) makes its point "failed
// (unreadable results.json)". The sort metric is
// matched exactly, else by its last component when that is unique (metric "mAP" finds "all.mAP").
//
// Thread-safety: plain functions; no shared state.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace agreid::launch {

struct SweepResultRow {
  int64_t index = 0;
  std::string out_dir;
  std::vector<std::pair<std::string, std::string>> params;  // swept key -> value
  std::string status;  // "ok", "failed (exit N)", "running", "requeued", "missing"
  std::map<std::string, double> metrics;
  bool has_metric = false;  // the sort metric was found
  double metric = 0.0;
};

struct SweepResults {
  std::string dir;
  std::string metric;                // as given in the spec
  std::string metric_column;         // the results.json key it matched ("" when none)
  std::string mode;                  // "max" or "min"
  std::vector<std::string> keys;     // swept keys
  std::vector<std::string> columns;  // metric columns: the sort metric first, then the others
  std::vector<SweepResultRow> rows;  // sorted: best first; points without the metric last
};

// Reads DIR/sweep.toml, DIR/runs.tsv, DIR/status/* and each point's results.json. Throws
// InputError when DIR is not a sweep folder.
SweepResults collectSweep(const std::string& dir);

std::string resultsCsv(const SweepResults& results);
std::string resultsMarkdown(const SweepResults& results);

// Flattened numeric values of a JSON object (null: NaN; exposed for tests and `report`). Throws
// InputError naming `where` (and the byte offset) on malformed JSON or a value not an object.
std::map<std::string, double> parseFlatJsonNumbers(const std::string& text,
                                                   const std::string& where);

}  // namespace agreid::launch
