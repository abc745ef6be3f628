// DatasetReader (data/dataset.h): opens read-only, validates every field on open, keeps the
// per-sample metadata in memory and reads image bytes with one hyperslab read per call.
#include <algorithm>
#include <filesystem>

#include "base/check.h"
#include "base/error.h"
#include "data/content_checksum.h"
#include "data/dataset.h"
#include "data/hdf5_util.h"

namespace agreid::data {

const char* splitName(Split split) {
  switch (split) {
    case Split::kTrain:
      return "train";
    case Split::kQuery:
      return "query";
    case Split::kGallery:
      return "gallery";
  }
  return "?";
}

namespace {

// Opens `path` read-only with a precise error for each way it can fail to be an HDF5 file.
h5::Handle openHdf5(const std::string& path, bool file_locking) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(path + ": no such file");
  if (std::filesystem::is_directory(path, ec)) {
    throw InputError(path + ": is a directory, expected an agreid dataset file");
  }
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    throw InputError(path + ": not an HDF5 file (wrong format or truncated)");
  }
  h5::Handle fapl = h5::fileAccess(file_locking);
  h5::Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()));
  if (!file.valid()) {
    throw InputError(path + ": cannot open as HDF5 (truncated or corrupt file)");
  }
  return file;
}

// Checks that a dimension read from the file equals the expected one.
void expectLength(const std::string& file, const std::string& field, hsize_t actual,
                  hsize_t expected, const char* what) {
  if (actual != expected) {
    throw InputError(file + ": field " + field + " has " + std::to_string(actual) +
                     " entries, expected " + std::to_string(expected) + " (" + what + ")");
  }
}

// offsets must start at 0, never decrease and end at the blob length.
void checkOffsets(const std::string& file, const std::string& field,
                  const std::vector<int64_t>& offsets, hsize_t blob_size) {
  if (offsets.empty() || offsets.front() != 0) {
    throw InputError(file + ": field " + field + " must start at 0");
  }
  for (size_t i = 1; i < offsets.size(); ++i) {
    if (offsets[i] < offsets[i - 1]) {
      throw InputError(file + ": field " + field + " decreases at entry " + std::to_string(i) +
                       " (" + std::to_string(offsets[i - 1]) + " -> " + std::to_string(offsets[i]) +
                       ")");
    }
  }
  if (static_cast<hsize_t>(offsets.back()) != blob_size) {
    throw InputError(file + ": field " + field + " ends at " + std::to_string(offsets.back()) +
                     " but the blob holds " + std::to_string(blob_size) + " bytes");
  }
}

}  // namespace

struct DatasetReader::Impl {
  std::string path;
  DatasetInfo info;
  SampleTable samples;
  h5::Handle file;
  h5::Handle blob;
  // Optional parts.
  hsize_t num_attributes = 0;
  mutable bool attributes_loaded = false;
  mutable std::vector<int32_t> attributes;
  std::vector<float> visibility;
  h5::Handle caption_blob;
  std::vector<int64_t> caption_offsets;

  template <typename T>
  std::vector<T> readColumn(const std::string& field, h5::Type type, hsize_t n) {
    std::vector<hsize_t> dims;
    h5::Handle d = h5::openDataset(file.get(), path, field, type, 1, &dims);
    expectLength(path, field, dims[0], n, "one per sample");
    return h5::readAll<T>(d.get(), n);
  }

  void open(bool file_locking);
  void openOptionalParts();
  void readVisibility();
};

void DatasetReader::Impl::open(bool file_locking) {
  file = openHdf5(path, file_locking);
  const hid_t f = file.get();
  if (!h5::hasAttribute(f, kKindAttribute)) {
    throw InputError(path + ": not an agreid dataset (missing root attribute '" +
                     std::string(kKindAttribute) + "')");
  }
  const std::string kind = h5::readStringAttribute(f, path, kKindAttribute);
  if (kind != kDatasetKind) {
    throw InputError(path + ": is an agreid '" + kind + "' file, not a dataset");
  }
  const int64_t version = h5::readIntAttribute(f, path, "format_version");
  if (version > kFormatVersion) {
    throw InputError(path + ": format_version " + std::to_string(version) +
                     " is newer than this agreid supports (" + std::to_string(kFormatVersion) +
                     "); upgrade agreid");
  }
  if (version < 1) {
    throw InputError(path + ": invalid format_version " + std::to_string(version));
  }
  info.format_version = static_cast<int>(version);
  info.name = h5::readStringAttribute(f, path, "dataset");
  info.source = h5::readStringAttribute(f, path, "source");
  info.checksum = h5::readStringAttribute(f, path, "checksum");
  const int64_t num_samples = h5::readIntAttribute(f, path, "num_samples");

  std::vector<hsize_t> dims;
  { h5::openDataset(f, path, "/samples/pid", h5::Type::kInt32, 1, &dims); }
  const hsize_t n = dims[0];
  if (static_cast<int64_t>(n) != num_samples) {
    throw InputError(path + ": root attribute num_samples is " + std::to_string(num_samples) +
                     " but /samples/pid has " + std::to_string(n) + " entries");
  }
  samples.pid = readColumn<int32_t>("/samples/pid", h5::Type::kInt32, n);
  samples.camid = readColumn<int16_t>("/samples/camid", h5::Type::kInt16, n);
  samples.split = readColumn<uint8_t>("/samples/split", h5::Type::kUint8, n);
  samples.label = readColumn<int32_t>("/samples/label", h5::Type::kInt32, n);
  samples.occluded = readColumn<uint8_t>("/samples/occluded", h5::Type::kUint8, n);
  {
    h5::Handle d = h5::openDataset(f, path, "/samples/path", h5::Type::kString, 1, &dims);
    expectLength(path, "/samples/path", dims[0], n, "one per sample");
    samples.path = h5::readStrings(d.get(), path, "/samples/path", n);
  }
  for (hsize_t i = 0; i < n; ++i) {
    if (samples.split[i] > 2) {
      throw InputError(path + ": /samples/split[" + std::to_string(i) + "] is " +
                       std::to_string(samples.split[i]) + ", expected 0 (train), 1 (query) or 2 " +
                       "(gallery)");
    }
    if (samples.occluded[i] > 1) {
      throw InputError(path + ": /samples/occluded[" + std::to_string(i) + "] is " +
                       std::to_string(samples.occluded[i]) + ", expected 0 or 1");
    }
    if (samples.camid[i] < 0) {
      throw InputError(path + ": /samples/camid[" + std::to_string(i) + "] is negative");
    }
  }
  {
    h5::Handle d = h5::openDataset(f, path, "/images/offsets", h5::Type::kInt64, 1, &dims);
    expectLength(path, "/images/offsets", dims[0], n + 1, "samples + 1");
    samples.offsets = h5::readAll<int64_t>(d.get(), n + 1);
  }
  // The image blob is read directly (no chunk cache): reads are either single images, which a
  // cached 1 MiB chunk would mostly waste, or long runs that cover whole chunks anyway.
  h5::openDataset(f, path, "/images/blob", h5::Type::kUint8, 1, &dims);
  h5::Handle dapl(H5Pcreate(H5P_DATASET_ACCESS));
  AGREID_CHECK(H5Pset_chunk_cache(dapl.get(), H5D_CHUNK_CACHE_NSLOTS_DEFAULT, 0,
                                  H5D_CHUNK_CACHE_W0_DEFAULT) >= 0,
               "H5Pset_chunk_cache failed");
  blob = h5::Handle(H5Dopen2(f, "/images/blob", dapl.get()));
  AGREID_CHECK(blob.valid(), "H5Dopen2 /images/blob failed after validation");
  checkOffsets(path, "/images/offsets", samples.offsets, dims[0]);
  openOptionalParts();
}

void DatasetReader::Impl::openOptionalParts() {
  const hid_t f = file.get();
  const hsize_t n = samples.size();
  std::vector<hsize_t> dims;
  if (h5::exists(f, "/attributes")) {
    h5::openDataset(f, path, "/attributes/values", h5::Type::kInt32, 2, &dims);
    expectLength(path, "/attributes/values", dims[0], n, "one row per sample");
    num_attributes = dims[1];
    h5::Handle names = h5::openDataset(f, path, "/attributes/names", h5::Type::kString, 1, &dims);
    expectLength(path, "/attributes/names", dims[0], num_attributes, "one per attribute column");
    info.attribute_names = h5::readStrings(names.get(), path, "/attributes/names", dims[0]);
    h5::Handle vo =
        h5::openDataset(f, path, "/attributes/value_offsets", h5::Type::kInt64, 1, &dims);
    expectLength(path, "/attributes/value_offsets", dims[0], num_attributes + 1, "attributes + 1");
    const std::vector<int64_t> value_offsets = h5::readAll<int64_t>(vo.get(), dims[0]);
    h5::Handle vn =
        h5::openDataset(f, path, "/attributes/value_names", h5::Type::kString, 1, &dims);
    checkOffsets(path, "/attributes/value_offsets", value_offsets, dims[0]);
    const std::vector<std::string> flat =
        h5::readStrings(vn.get(), path, "/attributes/value_names", dims[0]);
    for (hsize_t a = 0; a < num_attributes; ++a) {
      info.attribute_values.emplace_back(flat.begin() + value_offsets[a],
                                         flat.begin() + value_offsets[a + 1]);
    }
    if (h5::exists(f, "/attributes/visibility")) readVisibility();
  }
  if (h5::exists(f, "/captions")) {
    h5::Handle off = h5::openDataset(f, path, "/captions/offsets", h5::Type::kInt64, 1, &dims);
    expectLength(path, "/captions/offsets", dims[0], n + 1, "samples + 1");
    caption_offsets = h5::readAll<int64_t>(off.get(), n + 1);
    caption_blob = h5::openDataset(f, path, "/captions/blob", h5::Type::kUint8, 1, &dims);
    checkOffsets(path, "/captions/offsets", caption_offsets, dims[0]);
    info.has_captions = true;
  }
}

// /attributes/visibility: float32 [N, A], every entry a fraction in [0, 1].
void DatasetReader::Impl::readVisibility() {
  const std::string field = "/attributes/visibility";
  std::vector<hsize_t> dims;
  h5::Handle d = h5::openDataset(file.get(), path, field, h5::Type::kFloat32, 2, &dims);
  expectLength(path, field, dims[0], samples.size(), "one row per sample");
  if (dims[1] != num_attributes) {
    throw InputError(path + ": field " + field + " has " + std::to_string(dims[1]) +
                     " columns, expected " + std::to_string(num_attributes) +
                     " (one per attribute column)");
  }
  visibility = h5::readAll<float>(d.get(), dims[0] * dims[1]);
  for (size_t i = 0; i < visibility.size(); ++i) {
    const float v = visibility[i];
    if (!(v >= 0.f && v <= 1.f)) {  // NaN fails too
      throw InputError(detail::concat(path, ": ", field, "[", i / num_attributes, ", ",
                                      i % num_attributes, "] is ", v,
                                      ", expected a visible fraction in [0, 1]"));
    }
  }
  info.has_visibility = true;
}

DatasetReader::DatasetReader(const std::string& path, ReaderOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  h5::ErrorSilencer silence;
  impl_->open(options.file_locking);
}

DatasetReader::~DatasetReader() {
  if (!impl_) return;
  h5::ErrorSilencer silence;
  impl_.reset();
}

const std::string& DatasetReader::path() const { return impl_->path; }
const DatasetInfo& DatasetReader::info() const { return impl_->info; }
const SampleTable& DatasetReader::samples() const { return impl_->samples; }
int64_t DatasetReader::size() const { return static_cast<int64_t>(impl_->samples.size()); }

std::vector<uint8_t> DatasetReader::readJpeg(int64_t index) const {
  return readJpegRange(index, index + 1);
}

std::vector<uint8_t> DatasetReader::readJpegRange(int64_t begin, int64_t end) const {
  AGREID_CHECK(0 <= begin && begin <= end && end <= size(), "sample range [", begin, ", ", end,
               ") outside 0..", size(), " of ", impl_->path);
  h5::ErrorSilencer silence;
  const auto& off = impl_->samples.offsets;
  return h5::readBytes(impl_->blob.get(), static_cast<hsize_t>(off[begin]),
                       static_cast<hsize_t>(off[end]));
}

const std::vector<int32_t>& DatasetReader::attributes() const {
  Impl& m = *impl_;
  if (!m.attributes_loaded && m.num_attributes > 0) {
    h5::ErrorSilencer silence;
    std::vector<hsize_t> dims;
    h5::Handle d =
        h5::openDataset(m.file.get(), m.path, "/attributes/values", h5::Type::kInt32, 2, &dims);
    m.attributes = h5::readAll<int32_t>(d.get(), dims[0] * dims[1]);
  }
  m.attributes_loaded = true;
  return m.attributes;
}

const std::vector<float>& DatasetReader::visibility() const { return impl_->visibility; }

std::string DatasetReader::caption(int64_t index) const {
  AGREID_CHECK(0 <= index && index < size(), "sample ", index, " outside 0..", size());
  const Impl& m = *impl_;
  if (!m.info.has_captions) return "";
  h5::ErrorSilencer silence;
  const std::vector<uint8_t> bytes =
      h5::readBytes(m.caption_blob.get(), static_cast<hsize_t>(m.caption_offsets[index]),
                    static_cast<hsize_t>(m.caption_offsets[index + 1]));
  return std::string(bytes.begin(), bytes.end());
}

std::vector<int64_t> DatasetReader::indicesOf(Split split) const {
  std::vector<int64_t> out;
  const auto& s = impl_->samples.split;
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i] == static_cast<uint8_t>(split)) out.push_back(static_cast<int64_t>(i));
  return out;
}

std::string DatasetReader::sampleContext(int64_t index) const {
  AGREID_CHECK(0 <= index && index < size(), "sample ", index, " outside 0..", size());
  return impl_->path + " sample " + std::to_string(index) + " (" + impl_->samples.path[index] + ")";
}

std::string DatasetReader::recomputeChecksum() const {
  const Impl& m = *impl_;
  const SampleTable& t = m.samples;
  const std::vector<int32_t>& attrs = attributes();
  const size_t num_attr = m.num_attributes;
  ContentChecksum sum;
  constexpr int64_t kRunBytes = 64 << 20;
  int64_t begin = 0;
  const int64_t n = size();
  while (begin < n) {
    int64_t end = begin + 1;
    while (end < n && t.offsets[end + 1] - t.offsets[begin] <= kRunBytes) ++end;
    const std::vector<uint8_t> bytes = readJpegRange(begin, end);
    for (int64_t i = begin; i < end; ++i) {
      const std::string cap = m.info.has_captions ? caption(i) : std::string();
      sum.addSample(bytes.data() + (t.offsets[i] - t.offsets[begin]),
                    static_cast<size_t>(t.offsets[i + 1] - t.offsets[i]), t.pid[i], t.camid[i],
                    t.split[i], t.label[i], t.occluded[i], t.path[i],
                    attrs.empty() ? nullptr : attrs.data() + i * num_attr, num_attr,
                    m.info.has_captions ? &cap : nullptr,
                    m.visibility.empty() ? nullptr : m.visibility.data() + i * num_attr);
    }
    begin = end;
  }
  return sum.finish(n, m.info.attribute_names, m.info.attribute_values, m.info.has_captions,
                    m.info.has_visibility);
}

bool isDatasetFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  h5::ErrorSilencer silence;
  if (H5Fis_hdf5(path.c_str()) <= 0) return false;
  h5::Handle fapl = h5::fileAccess(/*file_locking=*/false);
  h5::Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()));
  if (!file.valid() || !h5::hasAttribute(file.get(), kKindAttribute)) return false;
  try {
    return h5::readStringAttribute(file.get(), path, kKindAttribute) == kDatasetKind;
  } catch (const InputError&) {
    return false;
  }
}

bool isUnreadableHdf5(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  h5::ErrorSilencer silence;
  if (H5Fis_hdf5(path.c_str()) <= 0) return false;
  h5::Handle fapl = h5::fileAccess(/*file_locking=*/false);
  h5::Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()));
  return !file.valid();
}

}  // namespace agreid::data
