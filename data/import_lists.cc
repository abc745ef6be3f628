// List-file layouts: MSMT17 (list_*.txt, as CLIP-ReID's datasets/msmt17.py reads them) and the
// CSV manifest for custom sets. A bad line is an InputError naming the file and line number.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "data/import_scan.h"

namespace agreid::data {
namespace fs = std::filesystem;

namespace {

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::vector<std::string> splitOn(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream is(s);
  while (std::getline(is, part, sep)) parts.push_back(part);
  if (!s.empty() && s.back() == sep) parts.emplace_back();
  return parts;
}

// Reads a text file's lines (without '\r'), or throws naming the file.
std::vector<std::string> readLines(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw InputError(path + ": cannot read");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(f, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

void parseMsmtList(const fs::path& root, const std::string& list, const std::string& image_dir,
                   Split split, ScanResult* result) {
  const std::string list_path = (root / list).string();
  result->split_sources[static_cast<int>(split)].push_back(list);
  const std::vector<std::string> lines = readLines(list_path);
  for (size_t n = 0; n < lines.size(); ++n) {
    const std::string where = list_path + ":" + std::to_string(n + 1) + ": ";
    const std::string line = trim(lines[n]);
    if (line.empty()) continue;
    std::istringstream is(line);
    std::string rel, pid_text, extra;
    is >> rel >> pid_text;
    int64_t pid = 0;
    if (rel.empty() || pid_text.empty() || (is >> extra) || !parseInt(pid_text, &pid) || pid < 0) {
      throw InputError(where + "expected 'PATH PID' with PID >= 0, got '" + line + "'");
    }
    requirePersonId(pid, where);
    requireInsideRoot(rel, (root / image_dir).string(), where);
    // cam = int(path.split('_')[2]), e.g. 0000/0000_000_01_0303morning_0015_0.jpg -> 01.
    const std::vector<std::string> parts = splitOn(rel, '_');
    int64_t cam = 0;
    if (parts.size() < 3 || !parseInt(parts[2], &cam) || cam < 1 || cam > 32767) {
      throw InputError(
          where + "cannot read a camera >= 1 from '" + rel +
          "' (expected PID_INDEX_CAM_..., e.g. 0000/0000_000_01_0303morning_0015_0.jpg)");
    }
    ImportItem item;
    item.rel = image_dir + "/" + rel;
    item.file = (root / item.rel).string();
    std::error_code ec;
    if (!fs::is_regular_file(item.file, ec)) {
      throw InputError(where + "image " + item.file + " not found");
    }
    item.pid = static_cast<int32_t>(pid);
    item.camid = static_cast<int16_t>(cam - 1);
    item.split = split;
    result->items.push_back(std::move(item));
  }
}

bool parseSplit(const std::string& s, Split* split) {
  if (s == "train")
    *split = Split::kTrain;
  else if (s == "query")
    *split = Split::kQuery;
  else if (s == "gallery")
    *split = Split::kGallery;
  else
    return false;
  return true;
}

}  // namespace

ScanResult scanMsmt17(const std::string& root) {
  requireEntries(
      "msmt17", root,
      {"train/", "test/", "list_train.txt", "list_val.txt", "list_query.txt", "list_gallery.txt"});
  ScanResult r;
  r.required_splits = {Split::kTrain, Split::kQuery, Split::kGallery};
  parseMsmtList(root, "list_train.txt", "train", Split::kTrain, &r);
  parseMsmtList(root, "list_val.txt", "train", Split::kTrain, &r);  // CLIP-ReID: train += val
  parseMsmtList(root, "list_query.txt", "test", Split::kQuery, &r);
  parseMsmtList(root, "list_gallery.txt", "test", Split::kGallery, &r);
  return r;
}

ScanResult scanCsv(const std::string& root, const std::string& manifest) {
  std::error_code ec;
  if (!fs::is_regular_file(manifest, ec)) {
    throw InputError(manifest + ": no such manifest file (the csv layout reads --manifest, " +
                     "default ROOT/manifest.csv)");
  }
  ScanResult r;
  for (auto& s : r.split_sources) s.push_back(manifest);
  const std::vector<std::string> lines = readLines(manifest);
  bool first = true;
  for (size_t n = 0; n < lines.size(); ++n) {
    const std::string line = trim(lines[n]);
    if (line.empty()) continue;
    std::vector<std::string> f = splitOn(line, ',');
    for (auto& x : f) x = trim(x);
    if (first && !f.empty() && f[0] == "path") {  // optional header
      first = false;
      continue;
    }
    first = false;
    const std::string where = manifest + ":" + std::to_string(n + 1) + ": ";
    if (f.size() != 4 && f.size() != 5) {
      throw InputError(where + "expected 4 or 5 fields path,pid,camid,split[,occluded], got " +
                       std::to_string(f.size()));
    }
    int64_t pid = 0, camid = 0, occluded = 0;
    Split split = Split::kTrain;
    requireInsideRoot(f[0], root, where);
    if (!parseInt(f[1], &pid) || pid < -1 || pid > kMaxPersonId) {
      throw InputError(where + "pid '" + f[1] + "' is not an integer in -1.." +
                       std::to_string(kMaxPersonId));
    }
    if (!parseInt(f[2], &camid) || camid < 0 || camid > 32767) {
      throw InputError(where + "camid '" + f[2] + "' is not an integer in 0..32767");
    }
    if (!parseSplit(f[3], &split)) {
      throw InputError(where + "split '" + f[3] + "' is not train, query or gallery");
    }
    if (f.size() == 5 && (!parseInt(f[4], &occluded) || occluded < 0 || occluded > 1)) {
      throw InputError(where + "occluded '" + f[4] + "' is not 0 or 1");
    }
    if (pid == -1) {
      ++r.junk;
      continue;
    }
    ImportItem item;
    item.rel = f[0];
    item.file = (fs::path(root) / f[0]).string();
    if (!fs::is_regular_file(item.file, ec)) {
      throw InputError(where + "image " + item.file + " not found");
    }
    item.pid = static_cast<int32_t>(pid);
    item.camid = static_cast<int16_t>(camid);
    item.split = split;
    item.occluded = occluded == 1;
    r.items.push_back(std::move(item));
  }
  return r;
}

}  // namespace agreid::data
