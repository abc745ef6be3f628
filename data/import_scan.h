// Layout scanners of the importers (data/importers.h), private to the data library. A scanner
// walks one layout's folders or list files and returns what to import, in a deterministic order,
// without reading any image. It throws InputError for structural problems (missing sub-folders,
// bad list lines) and records per-file problems in `skipped`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "data/dataset.h"

namespace agreid::data {

struct ImportItem {
  std::string file;  // absolute or root-joined path to read
  std::string rel;   // path relative to the root, stored in /samples/path
  int32_t pid = 0;
  int16_t camid = 0;
  Split split = Split::kTrain;
  bool occluded = false;
};

struct SkippedFile {
  std::string rel;
  std::string reason;  // category, e.g. "not a .jpg file"
  std::string detail;  // optional specifics for the examples
};

struct ScanResult {
  std::vector<ImportItem> items;
  int64_t junk = 0;  // pid -1, dropped
  std::vector<SkippedFile> skipped;
  std::vector<Split> required_splits;         // each must end up non-empty
  std::vector<std::string> split_sources[3];  // where each split came from, for messages
};

// market1501, dukemtmc, occluded-duke: bounding_box_train / query / bounding_box_test.
ScanResult scanMarketFamily(const std::string& layout, const std::string& root);
// occluded-reid: occluded_body_images/<pid>/ (query), whole_body_images/<pid>/ (gallery).
ScanResult scanOccludedReid(const std::string& root);
// p-dukemtmc: {train,test}/{occluded_body_images,whole_body_images}/<pid>/.
ScanResult scanPDukemtmc(const std::string& root);
// msmt17: list_{train,val,query,gallery}.txt with images under train/ and test/.
ScanResult scanMsmt17(const std::string& root);
// csv: path,pid,camid,split[,occluded] (header optional), paths relative to root.
ScanResult scanCsv(const std::string& root, const std::string& manifest);

// Throws InputError naming the root and every missing entry when any of `entries` (relative
// paths, folders end with '/') is absent.
void requireEntries(const std::string& layout, const std::string& root,
                    const std::vector<std::string>& entries);

// Parses a whole decimal integer (optional leading '-'); false when `s` is not one.
bool parseInt(const std::string& s, int64_t* value);

// Person ids are stored as int32 (/samples/pid): the largest id an importer accepts.
inline constexpr int64_t kMaxPersonId = 2147483647;

// Throws InputError "<where>person id <pid> outside 0..2147483647" for an id int32 cannot hold
// (it would wrap around and merge identities).
void requirePersonId(int64_t pid, const std::string& where);

// Throws InputError "<where>path '<rel>' ..." unless `rel` is a non-empty relative path that
// stays inside the root (no absolute path, no '..' component).
void requireInsideRoot(const std::string& rel, const std::string& root, const std::string& where);

// The entries of a folder sorted by name (directory order is filesystem-dependent). An unreadable
// folder throws InputError naming it and the system's reason.
std::vector<std::filesystem::directory_entry> sortedEntries(const std::filesystem::path& dir);

// True for the extensions the folder-tree layouts accept (.jpg .jpeg .tif .tiff .png, any case).
bool hasImageExtension(const std::string& name);

}  // namespace agreid::data
