// DatasetWriter (data/dataset.h): streams image bytes into a chunked /images/blob of a unique
// temporary file (base/atomic_file.h) while the metadata accumulates in memory; finish() writes
// the metadata, the checksum and the root attributes, flushes, closes, fsyncs and renames the
// temporary to `path`. Any failure abandons the temporary (data/hdf5_util.h) and removes it.
#include <filesystem>

#include "base/atomic_file.h"
#include "base/check.h"
#include "base/error.h"
#include "data/content_checksum.h"
#include "data/dataset.h"
#include "data/hdf5_util.h"

namespace agreid::data {

struct DatasetWriter::Impl {
  std::string path;
  std::string tmp_path;
  WriterOptions options;
  h5::Handle file;
  std::unique_ptr<h5::ByteAppender> blob;
  SampleTable table;
  std::vector<int32_t> attributes;
  std::vector<float> visibility;  // N x attributes, when the samples carry it
  std::vector<int64_t> caption_offsets{0};
  std::vector<uint8_t> caption_blob;
  bool any_caption = false;
  bool finished = false;

  // Closes the temporary without writing to disk again and removes it. Never throws.
  void abandon() noexcept {
    h5::detachFromDisk(file.get());
    blob.reset();
    h5::closeAbandoned(file);
    removeTempFile(tmp_path);
  }

  // Runs `step`; a failure abandons the file, and a failed write becomes one line naming `path`.
  template <typename Step>
  auto guarded(Step&& step) {
    try {
      return step();
    } catch (const h5::WriteError& e) {
      abandon();
      throw InputError(path + ": cannot write the dataset file: " + e.reason());
    } catch (...) {
      abandon();
      throw;
    }
  }
};

DatasetWriter::DatasetWriter(const std::string& path, WriterOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->tmp_path = tempPathFor(path);
  impl_->options = std::move(options);
  const auto& o = impl_->options;
  AGREID_CHECK(o.attribute_values.empty() || o.attribute_values.size() == o.attribute_names.size(),
               "attribute_values must have one entry per attribute name");
  AGREID_CHECK(o.chunk_bytes > 0, "chunk_bytes must be positive");

  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent)) {
    throw InputError(path + ": cannot write: directory " + parent.string() + " does not exist");
  }
  h5::ErrorSilencer silence;
  impl_->file = h5::createExclusive(impl_->tmp_path, path);
  impl_->guarded([&] {
    h5::createGroup(impl_->file.get(), "/images");
    h5::createGroup(impl_->file.get(), "/samples");
    impl_->blob = std::make_unique<h5::ByteAppender>(impl_->file.get(), "/images/blob",
                                                     static_cast<hsize_t>(o.chunk_bytes));
  });
  impl_->table.offsets.push_back(0);
}

DatasetWriter::~DatasetWriter() {
  if (!impl_ || impl_->finished || !impl_->file.valid()) return;
  h5::ErrorSilencer silence;
  impl_->abandon();
}

int64_t DatasetWriter::count() const { return static_cast<int64_t>(impl_->table.size()); }

void DatasetWriter::add(const SampleRecord& r) {
  Impl& m = *impl_;
  AGREID_CHECK(!m.finished, "DatasetWriter::add after finish()");
  AGREID_CHECK(m.file.valid(), "DatasetWriter::add after a failure");
  AGREID_CHECK(r.attributes.size() == m.options.attribute_names.size(), "sample ", m.table.size(),
               " (", r.path, ") has ", r.attributes.size(), " attributes, the writer expects ",
               m.options.attribute_names.size());
  AGREID_CHECK(r.camid >= 0, "sample ", r.path, " has negative camera ", r.camid);
  // Visibility: all samples or none (the first sample decides), one fraction per attribute.
  const bool with_visibility = m.table.size() == 0 ? !r.visibility.empty() : !m.visibility.empty();
  AGREID_CHECK(r.visibility.size() == (with_visibility ? r.attributes.size() : 0), "sample ",
               m.table.size(), " (", r.path, ") has ", r.visibility.size(),
               " visibility fractions, expected ", with_visibility ? r.attributes.size() : 0);
  AGREID_CHECK(!with_visibility || !r.attributes.empty(), "visibility without attributes");
  for (float v : r.visibility) {
    AGREID_CHECK(v >= 0.f && v <= 1.f, "sample ", r.path, " has visibility ", v);
  }
  h5::ErrorSilencer silence;
  m.guarded([&] { m.blob->append(r.jpeg.data(), r.jpeg.size()); });
  m.table.offsets.push_back(m.table.offsets.back() + static_cast<int64_t>(r.jpeg.size()));
  m.table.pid.push_back(r.pid);
  m.table.camid.push_back(r.camid);
  m.table.split.push_back(static_cast<uint8_t>(r.split));
  m.table.label.push_back(r.label);
  m.table.occluded.push_back(r.occluded ? 1 : 0);
  m.table.path.push_back(r.path);
  m.attributes.insert(m.attributes.end(), r.attributes.begin(), r.attributes.end());
  m.visibility.insert(m.visibility.end(), r.visibility.begin(), r.visibility.end());
  m.caption_blob.insert(m.caption_blob.end(), r.caption.begin(), r.caption.end());
  m.caption_offsets.push_back(static_cast<int64_t>(m.caption_blob.size()));
  m.any_caption = m.any_caption || !r.caption.empty();
}

DatasetInfo DatasetWriter::finish() {
  Impl& m = *impl_;
  AGREID_CHECK(!m.finished, "DatasetWriter::finish called twice");
  AGREID_CHECK(m.file.valid(), "DatasetWriter::finish after a failure");
  h5::ErrorSilencer silence;
  const DatasetInfo info = m.guarded([&] { return writeMetadata(); });
  commitTempFile(m.tmp_path, m.path);  // fsync, rename, fsync the folder; removes tmp on failure
  m.finished = true;
  return info;
}

DatasetInfo DatasetWriter::writeMetadata() {
  Impl& m = *impl_;
  const hid_t f = m.file.get();
  const SampleTable& t = m.table;
  const hsize_t n = t.size();
  const size_t num_attr = m.options.attribute_names.size();
  m.blob->flush();
  AGREID_CHECK(m.blob->size() == static_cast<hsize_t>(t.offsets.back()), "blob size mismatch");

  h5::writeDataset(f, "/images/offsets", t.offsets, {n + 1});
  h5::writeDataset(f, "/samples/pid", t.pid, {n});
  h5::writeDataset(f, "/samples/camid", t.camid, {n});
  h5::writeDataset(f, "/samples/split", t.split, {n});
  h5::writeDataset(f, "/samples/label", t.label, {n});
  h5::writeDataset(f, "/samples/occluded", t.occluded, {n});
  h5::writeStrings(f, "/samples/path", t.path);
  if (num_attr > 0) {
    h5::createGroup(f, "/attributes");
    h5::writeDataset(f, "/attributes/values", m.attributes, {n, num_attr});
    h5::writeStrings(f, "/attributes/names", m.options.attribute_names);
    std::vector<std::string> flat;
    std::vector<int64_t> value_offsets{0};
    for (size_t a = 0; a < num_attr; ++a) {
      if (a < m.options.attribute_values.size()) {
        for (const auto& v : m.options.attribute_values[a]) flat.push_back(v);
      }
      value_offsets.push_back(static_cast<int64_t>(flat.size()));
    }
    h5::writeStrings(f, "/attributes/value_names", flat);
    h5::writeDataset(f, "/attributes/value_offsets", value_offsets, {num_attr + 1});
    if (!m.visibility.empty()) {
      h5::writeDataset(f, "/attributes/visibility", m.visibility, {n, num_attr});
    }
  }
  if (m.any_caption) {
    h5::createGroup(f, "/captions");
    h5::writeDataset(f, "/captions/blob", m.caption_blob, {m.caption_blob.size()});
    h5::writeDataset(f, "/captions/offsets", m.caption_offsets, {n + 1});
  }

  // The checksum needs the image bytes again: read them back in runs of about 64 MiB.
  std::vector<std::vector<std::string>> attribute_values = m.options.attribute_values;
  attribute_values.resize(num_attr);
  ContentChecksum sum;
  {
    h5::Handle blob(H5Dopen2(f, "/images/blob", H5P_DEFAULT));
    constexpr int64_t kRunBytes = 64 << 20;
    size_t begin = 0;
    while (begin < n) {
      size_t end = begin + 1;
      while (end < n && t.offsets[end + 1] - t.offsets[begin] <= kRunBytes) ++end;
      const std::vector<uint8_t> bytes = h5::readBytes(
          blob.get(), static_cast<hsize_t>(t.offsets[begin]), static_cast<hsize_t>(t.offsets[end]));
      for (size_t i = begin; i < end; ++i) {
        std::string caption;
        if (m.any_caption) {
          caption.assign(m.caption_blob.begin() + m.caption_offsets[i],
                         m.caption_blob.begin() + m.caption_offsets[i + 1]);
        }
        sum.addSample(bytes.data() + (t.offsets[i] - t.offsets[begin]),
                      static_cast<size_t>(t.offsets[i + 1] - t.offsets[i]), t.pid[i], t.camid[i],
                      t.split[i], t.label[i], t.occluded[i], t.path[i],
                      m.attributes.data() + i * num_attr, num_attr,
                      m.any_caption ? &caption : nullptr,
                      m.visibility.empty() ? nullptr : m.visibility.data() + i * num_attr);
      }
      begin = end;
    }
  }
  DatasetInfo info;
  info.format_version = kFormatVersion;
  info.name = m.options.name;
  info.source = m.options.source;
  info.checksum = sum.finish(static_cast<int64_t>(n), m.options.attribute_names, attribute_values,
                             m.any_caption, !m.visibility.empty());
  info.attribute_names = m.options.attribute_names;
  info.attribute_values = attribute_values;
  info.has_captions = m.any_caption;
  info.has_visibility = !m.visibility.empty();

  int64_t per_split[3] = {0, 0, 0};
  for (uint8_t s : t.split) ++per_split[s];
  h5::writeAttribute(f, kKindAttribute, std::string(kDatasetKind));
  h5::writeAttribute(f, "format_version", static_cast<int64_t>(kFormatVersion));
  h5::writeAttribute(f, "dataset", info.name);
  h5::writeAttribute(f, "source", info.source);
  h5::writeAttribute(f, "checksum", info.checksum);
  h5::writeAttribute(f, "num_samples", static_cast<int64_t>(n));
  h5::writeAttribute(f, "num_train", per_split[0]);
  h5::writeAttribute(f, "num_query", per_split[1]);
  h5::writeAttribute(f, "num_gallery", per_split[2]);

  // Everything reaches the disk while the file is still open (a failure here can be abandoned);
  // the closes that follow have nothing left to write.
  h5::flush(f);
  m.blob.reset();
  m.file.closeChecked("(close)");
  return info;
}

}  // namespace agreid::data
