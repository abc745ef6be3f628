#include "trainer/eval/features_file.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "base/check.h"
#include "base/error.h"
#include "trainer/util/array_file.h"

namespace agreid::trainer {
namespace {

std::vector<int64_t> toVector(const at::Tensor& t) {
  const at::Tensor l = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + l.numel());
}

// Reads a required integer vector of `rows` entries.
std::vector<int64_t> readIds(const ArrayFileReader& reader, const std::string& path,
                             const std::string& name, int64_t rows) {
  const at::Tensor t = reader.readTensor(name);
  if (t.dim() != 1 || !at::isIntegralType(t.scalar_type(), /*includeBool=*/false)) {
    throw InputError(path + ": field '" + name + "' must be a one-dimensional integer array");
  }
  if (t.size(0) != rows) {
    throw InputError(path + ": field '" + name + "' has " + std::to_string(t.size(0)) +
                     " entries, expected " + std::to_string(rows) + " (the rows of 'features')");
  }
  return toVector(t);
}

at::Tensor longTensor(const std::vector<int64_t>& v) {
  return at::tensor(at::ArrayRef<int64_t>(v), at::kLong);
}

}  // namespace

int64_t FeatureSet::dim() const { return features.defined() ? features.size(1) : 0; }

void checkFeatureSet(const FeatureSet& set) {
  AGREID_CHECK(
      set.features.defined() && set.features.dim() == 2 && set.features.scalar_type() == at::kFloat,
      "features must be a float32 [N, D] tensor");
  const auto n = static_cast<size_t>(set.features.size(0));
  AGREID_CHECK(set.pid.size() == n && set.camid.size() == n && set.index.size() == n,
               "pid/camid/index lengths differ from the ", n, " feature rows");
  AGREID_CHECK(set.occluded.empty() || set.occluded.size() == n, "occluded has ",
               set.occluded.size(), " entries for ", n, " rows");
}

void writeFeaturesFile(const std::string& path, const FeatureSet& set) {
  checkFeatureSet(set);
  ArrayFileWriter writer(path);
  writer.writeTensor("features", set.features.cpu().contiguous());
  writer.writeTensor("pid", longTensor(set.pid));
  writer.writeTensor("camid", longTensor(set.camid));
  writer.writeTensor("index", longTensor(set.index));
  if (set.hasOccluded()) {
    std::vector<int64_t> occ(set.occluded.begin(), set.occluded.end());
    writer.writeTensor("occluded", longTensor(occ).to(at::kInt));
  }
  writer.writeAttribute("format_version", std::to_string(kFeaturesFormatVersion));
  writer.writeAttribute("dataset", set.info.dataset);
  writer.writeAttribute("dataset_checksum", set.info.dataset_checksum);
  writer.writeAttribute("split", set.info.split);
  writer.writeAttribute("kind", set.info.kind);
  writer.writeAttribute("weights", set.info.weights);
  writer.commit();
}

FeatureSet readFeaturesFile(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) {
    throw InputError(path + ": features file not found");
  }
  ArrayFileReader reader(path);
  if (!reader.hasAttribute("format_version")) {
    throw InputError(path + ": not an agreid features file (no 'format_version' attribute)");
  }
  const std::string version = reader.readAttribute("format_version");
  if (version != std::to_string(kFeaturesFormatVersion)) {
    throw InputError(path + ": features format version '" + version +
                     "' is not supported (expected " + std::to_string(kFeaturesFormatVersion) +
                     ")");
  }
  FeatureSet set;
  if (!reader.hasTensor("features")) {
    throw InputError(path + ": features file lacks the field 'features'");
  }
  set.features = reader.readTensor("features");
  if (set.features.dim() != 2 || set.features.scalar_type() != at::kFloat ||
      set.features.size(1) == 0) {
    throw InputError(path + ": field 'features' must be a float array [N, D] with D > 0");
  }
  const at::Tensor finite = at::isfinite(set.features);
  if (!finite.all().item<bool>()) {
    const at::Tensor first = at::logical_not(finite).nonzero()[0];
    throw InputError(path +
                     ": dataset 'features' holds a non-finite value (NaN or infinity) at row " +
                     std::to_string(first[0].item<int64_t>()) + ", column " +
                     std::to_string(first[1].item<int64_t>()));
  }
  const int64_t n = set.features.size(0);
  for (const char* name : {"pid", "camid", "index"}) {
    if (!reader.hasTensor(name)) {
      throw InputError(path + ": features file lacks the field '" + std::string(name) + "'");
    }
  }
  set.pid = readIds(reader, path, "pid", n);
  set.camid = readIds(reader, path, "camid", n);
  set.index = readIds(reader, path, "index", n);
  if (reader.hasTensor("occluded")) {
    const auto occ = readIds(reader, path, "occluded", n);
    set.occluded.reserve(occ.size());
    for (int64_t v : occ) set.occluded.push_back(v != 0 ? 1 : 0);
  }
  auto attribute = [&](const char* name) {
    return reader.hasAttribute(name) ? reader.readAttribute(name) : std::string();
  };
  set.info.dataset = attribute("dataset");
  set.info.dataset_checksum = attribute("dataset_checksum");
  set.info.split = attribute("split");
  set.info.kind = attribute("kind");
  set.info.weights = attribute("weights");
  return set;
}

bool isFeaturesFile(const std::string& path) {
  try {
    ArrayFileReader reader(path);
    return reader.hasAttribute("format_version") && reader.hasTensor("features") &&
           reader.hasTensor("pid");
  } catch (const InputError&) {
    return false;
  }
}

std::string describeFeaturesFile(const std::string& path) {
  const FeatureSet set = readFeaturesFile(path);
  std::set<int64_t> ids(set.pid.begin(), set.pid.end());
  std::set<int64_t> cameras(set.camid.begin(), set.camid.end());
  std::ostringstream os;
  const auto value = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
  os << path << ": agreid features file (format " << kFeaturesFormatVersion << ")\n"
     << "  features:         " << set.size() << " x " << set.dim() << " (kind "
     << value(set.info.kind) << ")\n"
     << "  identities:       " << ids.size() << "\n"
     << "  cameras:          " << cameras.size() << "\n";
  if (set.hasOccluded()) {
    int64_t occluded = 0;
    for (uint8_t o : set.occluded) occluded += o;
    os << "  occluded:         " << occluded << " of " << set.size() << "\n";
  }
  os << "  split:            " << value(set.info.split) << "\n"
     << "  dataset:          " << value(set.info.dataset) << "\n"
     << "  dataset checksum: " << value(set.info.dataset_checksum) << "\n"
     << "  weights:          " << value(set.info.weights) << "\n";
  return os.str();
}

}  // namespace agreid::trainer
