// importDataset: scan the layout (import_folders.cc, import_lists.cc), relabel the training
// identities, validate or convert every image, write the dataset file, summarise.
#include "data/importers.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "base/error.h"
#include "data/image_files.h"
#include "data/import_scan.h"
#include "data/jpeg_codec.h"

namespace agreid::data {
namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxSkippedExamples = 5;

// Published split sizes (method.md §3): train identities / images, query and gallery images.
struct PublishedCounts {
  const char* layout;
  int64_t train_ids, train_images, query_images, gallery_images;
};
constexpr PublishedCounts kPublished[] = {
    {"market1501", 751, 12936, 3368, 15913}, {"dukemtmc", 702, 16522, 2228, 17661},
    {"msmt17", 1041, 32621, 11659, 82161},   {"occluded-duke", 702, 15618, 2210, 17661},
    {"occluded-reid", 0, 0, 1000, 1000},     {"p-dukemtmc", 665, 12927, 2163, 9053},
};

std::string joinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

void checkRoot(const std::string& root) {
  std::error_code ec;
  if (root.empty()) throw InputError("import: --root is required");
  if (!fs::exists(root, ec)) throw InputError(root + ": no such directory (--root)");
  if (!fs::is_directory(root, ec)) throw InputError(root + ": not a directory (--root)");
  if (fs::directory_iterator(root, ec) == fs::directory_iterator()) {
    throw InputError(root + ": directory is empty (--root)");
  }
}

ScanResult scan(const ImportOptions& o) {
  if (o.layout == "market1501" || o.layout == "dukemtmc" || o.layout == "occluded-duke") {
    return scanMarketFamily(o.layout, o.root);
  }
  if (o.layout == "msmt17") return scanMsmt17(o.root);
  if (o.layout == "occluded-reid") return scanOccludedReid(o.root);
  if (o.layout == "p-dukemtmc") return scanPDukemtmc(o.root);
  const std::string manifest =
      o.manifest.empty() ? (fs::path(o.root) / "manifest.csv").string() : o.manifest;
  return scanCsv(o.root, manifest);
}

void requireSplits(const ImportOptions& o, const ScanResult& r,
                   const std::array<int64_t, 3>& counts, const char* when) {
  for (Split s : r.required_splits) {
    const int i = static_cast<int>(s);
    if (counts[i] > 0) continue;
    throw InputError(o.root + ": the " + splitName(s) + " split is empty " + when + " (from " +
                     joinNames(r.split_sources[i]) + "); layout " + o.layout + " requires it");
  }
}

bool readWholeFile(const std::string& path, std::vector<uint8_t>* bytes) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  bytes->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return !f.bad();
}

// Returns the JPEG bytes to store for one source file, or "" in *reason when it is skipped.
std::vector<uint8_t> loadAsJpeg(const ImportItem& item, int quality, bool* converted,
                                std::string* reason, std::string* detail) {
  std::vector<uint8_t> bytes;
  *converted = false;
  if (!readWholeFile(item.file, &bytes)) {
    *reason = "unreadable file";
    return {};
  }
  try {
    switch (sniffImageFormat(bytes)) {
      case ImageFormat::kJpeg:
        // A full decode: a file truncated mid-scan has a valid header but wrong pixels.
        decodeJpeg(bytes.data(), bytes.size(), item.file);
        return bytes;
      case ImageFormat::kTiff:
        *converted = true;
        *reason = "not a valid TIFF";
        return encodeJpeg(readTiffFile(item.file), quality);
      case ImageFormat::kPng:
        *converted = true;
        *reason = "not a valid PNG";
        return encodeJpeg(readPngFile(item.file), quality);
      case ImageFormat::kUnknown:
        break;
    }
    *reason = bytes.empty() ? "empty file" : "not a JPEG, TIFF or PNG image";
  } catch (const InputError& e) {
    if (reason->empty()) *reason = "not a valid JPEG";
    *detail = e.what();
  }
  *converted = false;
  return {};
}

}  // namespace

const std::vector<std::string>& importLayouts() {
  static const std::vector<std::string> kLayouts = {
      "market1501", "dukemtmc", "msmt17", "occluded-duke", "occluded-reid", "p-dukemtmc", "csv"};
  return kLayouts;
}

std::string cameraName(const std::string& dataset_name, int64_t camid) {
  static const std::vector<std::string> kFromOne = {"market1501", "dukemtmc", "occluded-duke",
                                                    "msmt17", "synthetic-reid"};
  if (std::find(kFromOne.begin(), kFromOne.end(), dataset_name) != kFromOne.end()) {
    return "c" + std::to_string(camid + 1);
  }
  return std::to_string(camid);
}

ImportSummary importDataset(const ImportOptions& o, const ImportProgressFn& progress) {
  const auto& layouts = importLayouts();
  if (std::find(layouts.begin(), layouts.end(), o.layout) == layouts.end()) {
    throw InputError("import: unknown layout '" + o.layout + "' (valid: " + joinNames(layouts) +
                     ")");
  }
  checkRoot(o.root);
  if (o.out.empty()) throw InputError("import: --out is required");
  std::error_code ec;
  if (fs::is_directory(o.out, ec)) {
    throw InputError(o.out + ": is a directory, expected an output .h5 file (--out)");
  }

  ScanResult r = scan(o);
  std::array<int64_t, 3> scanned{};
  for (const auto& item : r.items) ++scanned[static_cast<int>(item.split)];
  requireSplits(o, r, scanned, "");
  if (r.items.empty()) {
    throw InputError(o.root + ": no images found for layout " + o.layout);
  }

  // Training labels: contiguous 0..K-1 in sorted pid order (CLIP-ReID relabel=True).
  std::vector<int32_t> train_pids;
  for (const auto& item : r.items)
    if (item.split == Split::kTrain) train_pids.push_back(item.pid);
  std::sort(train_pids.begin(), train_pids.end());
  train_pids.erase(std::unique(train_pids.begin(), train_pids.end()), train_pids.end());

  ImportSummary summary;
  summary.layout = o.layout;
  summary.root = o.root;
  summary.out = o.out;
  summary.junk_dropped = r.junk;

  WriterOptions wo;
  wo.name = o.layout;
  wo.source = fs::absolute(o.root).lexically_normal().string();
  wo.chunk_bytes = o.chunk_bytes;
  DatasetWriter writer(o.out, wo);
  SampleTable written;
  const int64_t total = static_cast<int64_t>(r.items.size());
  for (int64_t i = 0; i < total; ++i) {
    const ImportItem& item = r.items[i];
    bool converted = false;
    std::string reason, detail;
    SampleRecord rec;
    rec.jpeg = loadAsJpeg(item, o.jpeg_quality, &converted, &reason, &detail);
    if (rec.jpeg.empty()) {
      r.skipped.push_back({item.rel, reason, detail});
    } else {
      summary.converted += converted ? 1 : 0;
      rec.pid = item.pid;
      rec.camid = item.camid;
      rec.split = item.split;
      rec.occluded = item.occluded;
      rec.path = item.rel;
      if (item.split == Split::kTrain) {
        rec.label = static_cast<int32_t>(
            std::lower_bound(train_pids.begin(), train_pids.end(), item.pid) - train_pids.begin());
      }
      writer.add(rec);
      written.pid.push_back(rec.pid);
      written.camid.push_back(rec.camid);
      written.split.push_back(static_cast<uint8_t>(rec.split));
      written.occluded.push_back(rec.occluded ? 1 : 0);
    }
    if (progress) progress(i + 1, total);
  }
  summary.splits = splitStats(written);
  std::array<int64_t, 3> kept{};
  for (int s = 0; s < 3; ++s) kept[s] = summary.splits[s].images;
  requireSplits(o, r, kept, "after skipping unusable images");
  // Labels must stay contiguous: a skipped image can remove an identity's last training image.
  // (splitStats does not count the distractor pid 0 as an identity; a training pid 0 is one.)
  const int64_t kept_train_ids =
      summary.splits[0].identities + (summary.splits[0].distractors > 0 ? 1 : 0);
  if (kept_train_ids != static_cast<int64_t>(train_pids.size())) {
    throw InputError(o.root + ": " +
                     std::to_string(static_cast<int64_t>(train_pids.size()) - kept_train_ids) +
                     " training identities lost every image to skipped files; fix or remove them");
  }

  for (const auto& s : r.skipped) {
    ++summary.skipped[s.reason];
    if (summary.skipped_examples.size() < kMaxSkippedExamples) {
      summary.skipped_examples.push_back(s.rel + ": " + (s.detail.empty() ? s.reason : s.detail));
    }
  }
  for (const auto& p : kPublished) {
    if (o.layout != p.layout) continue;
    const auto& st = summary.splits;
    if (st[0].identities != p.train_ids || st[0].images != p.train_images ||
        st[1].images != p.query_images || st[2].images != p.gallery_images) {
      std::ostringstream os;
      os << o.layout << ": imported train " << st[0].identities << " ids / " << st[0].images
         << " images, query " << st[1].images << ", gallery " << st[2].images
         << "; the published split has train " << p.train_ids << " / " << p.train_images
         << ", query " << p.query_images << ", gallery " << p.gallery_images;
      summary.warnings.push_back(os.str());
    }
  }
  if (!r.skipped.empty()) {
    summary.warnings.push_back(std::to_string(r.skipped.size()) + " file(s) skipped; see the " +
                               "summary for the reasons");
  }
  summary.checksum = writer.finish().checksum;
  return summary;
}

std::string formatImportSummary(const ImportSummary& s) {
  std::ostringstream os;
  os << "imported " << s.layout << " from " << s.root << " into " << s.out << "\n"
     << "  checksum: " << s.checksum << "\n"
     << formatSplitStats(s.splits);
  os << "  junk (pid -1) dropped: " << s.junk_dropped << "\n";
  if (s.converted > 0) os << "  re-encoded as JPEG (TIFF/PNG sources): " << s.converted << "\n";
  int64_t skipped = 0;
  for (const auto& [reason, n] : s.skipped) skipped += n;
  os << "  skipped: " << skipped << "\n";
  for (const auto& [reason, n] : s.skipped) os << "    " << reason << ": " << n << "\n";
  for (const auto& e : s.skipped_examples) os << "    e.g. " << e << "\n";
  return os.str();
}

}  // namespace agreid::data
