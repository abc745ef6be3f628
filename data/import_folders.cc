// Folder-tree layouts: Market-1501, DukeMTMC-reID and Occluded-Duke (file names carry pid and
// camera), Occluded-REID and P-DukeMTMC-reID (one folder per person). Parsing follows
// CLIP-ReID's datasets/{market1501,dukemtmcreid,occ_duke}.py and bpbreid's
// {occluded_reid,p_dukemtmc_reid}.py (method.md §3).
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <regex>

#include "base/error.h"
#include "data/import_scan.h"

namespace agreid::data {
namespace fs = std::filesystem;

namespace {

constexpr const char* kNotJpg = "not a .jpg file";
constexpr const char* kBadName = "name does not match ([-\\d]+)_c(\\d)";

struct CameraRule {
  int max_cam;  // cameras are 1..max_cam in the file names
  int max_pid;  // pids are 0..max_pid (or -1 junk); < 0: no limit
};

CameraRule cameraRule(const std::string& layout) {
  if (layout == "market1501") return {6, 1501};
  return {8, -1};  // dukemtmc, occluded-duke
}

void scanNamedFolder(const std::string& layout, const fs::path& root, const std::string& sub,
                     Split split, bool occluded, ScanResult* result) {
  static const std::regex kPattern(R"(([-\d]+)_c(\d))");
  const CameraRule rule = cameraRule(layout);
  result->split_sources[static_cast<int>(split)].push_back(sub + "/");
  for (const auto& entry : sortedEntries(root / sub)) {
    const std::string name = entry.path().filename().string();
    const std::string rel = sub + "/" + name;
    // CLIP-ReID globs '*.jpg': anything else (Thumbs.db, .txt, sub-folders) is not an image.
    std::error_code ec;
    if (!entry.is_regular_file(ec) || entry.path().extension() != ".jpg") {
      result->skipped.push_back({rel, kNotJpg, ""});
      continue;
    }
    std::smatch m;
    int64_t pid = 0, cam = 0;
    if (!std::regex_search(name, m, kPattern) || !parseInt(m[1].str(), &pid) ||
        !parseInt(m[2].str(), &cam)) {
      result->skipped.push_back({rel, kBadName, ""});
      continue;
    }
    if (pid == -1) {
      ++result->junk;
      continue;
    }
    const std::string file = (root / rel).string();
    if (cam < 1 || cam > rule.max_cam) {
      throw InputError(file + ": camera " + std::to_string(cam) + " outside 1.." +
                       std::to_string(rule.max_cam) + " of layout " + layout);
    }
    const int64_t max_pid = rule.max_pid >= 0 ? rule.max_pid : kMaxPersonId;
    if (pid < 0 || pid > max_pid) {
      throw InputError(file + ": person id " + std::to_string(pid) + " outside 0.." +
                       std::to_string(max_pid) + " of layout " + layout);
    }
    ImportItem item;
    item.file = file;
    item.rel = rel;
    item.pid = static_cast<int32_t>(pid);
    item.camid = static_cast<int16_t>(cam - 1);
    item.split = split;
    item.occluded = occluded;
    result->items.push_back(std::move(item));
  }
}

// <sub>/<pid>/<image>: every image of a folder gets the folder's pid.
void scanPersonFolders(const fs::path& root, const std::string& sub, Split split, int16_t camid,
                       bool occluded, ScanResult* result) {
  result->split_sources[static_cast<int>(split)].push_back(sub + "/");
  for (const auto& person : sortedEntries(root / sub)) {
    const std::string pname = person.path().filename().string();
    int64_t pid = 0;
    std::error_code ec;
    if (!person.is_directory(ec)) {
      result->skipped.push_back({sub + "/" + pname, "not a person folder", ""});
      continue;
    }
    if (!parseInt(pname, &pid) || pid < 0) {
      result->skipped.push_back({sub + "/" + pname + "/", "folder name is not a person id", ""});
      continue;
    }
    requirePersonId(pid, (root / sub / pname).string() + ": ");
    for (const auto& entry : sortedEntries(person.path())) {
      const std::string rel = sub + "/" + pname + "/" + entry.path().filename().string();
      if (!entry.is_regular_file(ec) || !hasImageExtension(entry.path().filename().string())) {
        result->skipped.push_back({rel, "not an image file", ""});
        continue;
      }
      ImportItem item;
      item.file = (root / rel).string();
      item.rel = rel;
      item.pid = static_cast<int32_t>(pid);
      item.camid = camid;
      item.split = split;
      item.occluded = occluded;
      result->items.push_back(std::move(item));
    }
  }
}

}  // namespace

std::vector<fs::directory_entry> sortedEntries(const fs::path& dir) {
  std::error_code ec;
  std::vector<fs::directory_entry> entries;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    entries.push_back(*it);
  }
  if (ec) throw InputError(dir.string() + ": cannot read the folder: " + ec.message());
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.path().filename() < b.path().filename(); });
  return entries;
}

void requirePersonId(int64_t pid, const std::string& where) {
  if (pid < 0 || pid > kMaxPersonId) {
    throw InputError(where + "person id " + std::to_string(pid) + " outside 0.." +
                     std::to_string(kMaxPersonId));
  }
}

void requireInsideRoot(const std::string& rel, const std::string& root, const std::string& where) {
  const fs::path p(rel);
  bool escapes = p.is_absolute() || p.has_root_name() || p.has_root_directory();
  for (const auto& part : p) escapes = escapes || part == "..";
  if (rel.empty() || escapes) {
    throw InputError(where + "path '" + rel + "' must be relative to " + root +
                     " and stay inside it (no absolute path, no '..')");
  }
}

bool parseInt(const std::string& s, int64_t* value) {
  if (s.empty() || s.size() > 18) return false;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return false;
  int64_t v = 0;
  for (; i < s.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    v = v * 10 + (s[i] - '0');
  }
  *value = s[0] == '-' ? -v : v;
  return true;
}

bool hasImageExtension(const std::string& name) {
  std::string ext = fs::path(name).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".tif" || ext == ".tiff" || ext == ".png";
}

void requireEntries(const std::string& layout, const std::string& root,
                    const std::vector<std::string>& entries) {
  std::string missing;
  for (const auto& e : entries) {
    const bool is_dir = !e.empty() && e.back() == '/';
    const fs::path p = fs::path(root) / e;
    std::error_code ec;
    const bool ok = is_dir ? fs::is_directory(p, ec) : fs::is_regular_file(p, ec);
    if (!ok) missing += (missing.empty() ? "" : ", ") + e;
  }
  if (missing.empty()) return;
  std::string expected;
  for (const auto& e : entries) expected += (expected.empty() ? "" : ", ") + e;
  throw InputError(root + ": not a " + layout + " layout: missing " + missing + " (expected " +
                   expected + ")");
}

ScanResult scanMarketFamily(const std::string& layout, const std::string& root) {
  requireEntries(layout, root, {"bounding_box_train/", "query/", "bounding_box_test/"});
  ScanResult r;
  r.required_splits = {Split::kTrain, Split::kQuery, Split::kGallery};
  // Occluded-Duke's queries are occluded by construction (lightas/Occluded-DukeMTMC-Dataset);
  // which gallery images are occluded is not recorded, so they stay 0.
  const bool occluded_query = layout == "occluded-duke";
  scanNamedFolder(layout, root, "bounding_box_train", Split::kTrain, false, &r);
  scanNamedFolder(layout, root, "query", Split::kQuery, occluded_query, &r);
  scanNamedFolder(layout, root, "bounding_box_test", Split::kGallery, false, &r);
  return r;
}

ScanResult scanOccludedReid(const std::string& root) {
  requireEntries("occluded-reid", root, {"occluded_body_images/", "whole_body_images/"});
  ScanResult r;
  r.required_splits = {Split::kQuery, Split::kGallery};
  scanPersonFolders(root, "occluded_body_images", Split::kQuery, 0, true, &r);
  scanPersonFolders(root, "whole_body_images", Split::kGallery, 1, false, &r);
  return r;
}

ScanResult scanPDukemtmc(const std::string& root) {
  requireEntries("p-dukemtmc", root,
                 {"train/occluded_body_images/", "train/whole_body_images/",
                  "test/occluded_body_images/", "test/whole_body_images/"});
  ScanResult r;
  r.required_splits = {Split::kTrain, Split::kQuery, Split::kGallery};
  // bpbreid: train whole-body images camid 1, occluded 0; query 0; gallery 1.
  scanPersonFolders(root, "train/whole_body_images", Split::kTrain, 1, false, &r);
  scanPersonFolders(root, "train/occluded_body_images", Split::kTrain, 0, true, &r);
  scanPersonFolders(root, "test/occluded_body_images", Split::kQuery, 0, true, &r);
  scanPersonFolders(root, "test/whole_body_images", Split::kGallery, 1, false, &r);
  return r;
}

}  // namespace agreid::data
