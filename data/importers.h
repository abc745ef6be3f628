// Importers: turn a public re-ID dataset folder (or a CSV manifest) into one agreid dataset file
// (data/dataset.h). Each layout is parsed exactly as method.md §3 and docs/data-format.md
// describe; the output is written atomically (no file is left behind on error).
//
// Usage:
//   ImportOptions o{"market1501", "/data/Market-1501-v15.09.15", "market.h5"};
//   ImportSummary s = importDataset(o, [](int64_t done, int64_t total) { ... });
//
// Errors (InputError, one line): unknown layout (lists the valid ones), missing or empty root,
// missing sub-folders or list files (named), an empty split the layout requires, bad manifest
// or list lines (file:line), out-of-range cameras. Unreadable or corrupt images are skipped and
// counted by reason (ImportSummary::skipped), not fatal.
//
// Thread-safety: one import per thread; distinct imports are independent (HDF5 itself is not
// thread-safe, so do not run two in one process concurrently).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "data/dataset_summary.h"

namespace agreid::data {

struct ImportOptions {
  std::string layout;    // one of importLayouts()
  std::string root;      // dataset folder
  std::string out;       // output .h5 file
  std::string manifest;  // csv layout only; default <root>/manifest.csv
  int64_t chunk_bytes = 1 << 20;
  int jpeg_quality = 95;  // for TIFF/PNG sources re-encoded to JPEG
};

struct ImportSummary {
  std::string layout;
  std::string root;
  std::string out;
  std::string checksum;
  std::array<SplitStats, 3> splits{};         // indexed by Split
  int64_t junk_dropped = 0;                   // pid -1 images
  int64_t converted = 0;                      // TIFF/PNG images re-encoded as JPEG
  std::map<std::string, int64_t> skipped;     // reason -> count
  std::vector<std::string> skipped_examples;  // "path: reason", the first few
  std::vector<std::string> warnings;          // e.g. counts that differ from the published ones
};

// (done, total) after each image; called on the importing thread.
using ImportProgressFn = std::function<void(int64_t done, int64_t total)>;

// market1501, dukemtmc, msmt17, occluded-duke, occluded-reid, p-dukemtmc, csv.
const std::vector<std::string>& importLayouts();

// The camera `camid` (0-based in dataset files) as its dataset's users name it: "c1".."c15" for
// a dataset whose file names number cameras from 1 (imports of market1501, dukemtmc,
// occluded-duke, msmt17, and the synthetic re-ID world, named like Market-1501: camid + 1), else
// the camid itself ("0", "1": csv, occluded-reid, p-dukemtmc). `dataset_name` is
// DatasetInfo::name (the layout for imports).
std::string cameraName(const std::string& dataset_name, int64_t camid);

ImportSummary importDataset(const ImportOptions& options, const ImportProgressFn& progress = {});

// Multi-line report: destination, checksum, per-split stats, junk and skipped counts.
std::string formatImportSummary(const ImportSummary& summary);

}  // namespace agreid::data
