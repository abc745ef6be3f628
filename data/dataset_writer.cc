// DatasetWriter (data/dataset.h): streams image bytes into a chunked /images/blob while the
// metadata accumulates in memory; finish() writes the metadata, the checksum and the root
// attributes, fsyncs and renames `<path>.tmp` to `path`.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "base/check.h"
#include "base/error.h"
#include "data/content_checksum.h"
#include "data/dataset.h"
#include "data/hdf5_util.h"

namespace agreid::data {
namespace {

void fsyncPath(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) throw InputError(path + ": cannot open for fsync: " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw InputError(path + ": fsync failed: " + std::strerror(err));
}

}  // namespace

struct DatasetWriter::Impl {
  std::string path;
  std::string tmp_path;
  WriterOptions options;
  h5::Handle file;
  std::unique_ptr<h5::ByteAppender> blob;
  SampleTable table;
  std::vector<int32_t> attributes;
  std::vector<int64_t> caption_offsets{0};
  std::vector<uint8_t> caption_blob;
  bool any_caption = false;
  bool finished = false;

  void removeTmp() {
    file.reset();
    std::error_code ec;
    std::filesystem::remove(tmp_path, ec);
  }
};

DatasetWriter::DatasetWriter(const std::string& path, WriterOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->tmp_path = path + ".tmp";
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
  h5::Handle fapl = h5::fileAccess(/*file_locking=*/false);
  impl_->file =
      h5::Handle(H5Fcreate(impl_->tmp_path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()));
  if (!impl_->file.valid()) {
    throw InputError(impl_->tmp_path + ": cannot create the output file (permissions?)");
  }
  h5::createGroup(impl_->file.get(), "/images");
  h5::createGroup(impl_->file.get(), "/samples");
  impl_->blob = std::make_unique<h5::ByteAppender>(impl_->file.get(), "/images/blob",
                                                   static_cast<hsize_t>(o.chunk_bytes));
  impl_->table.offsets.push_back(0);
}

DatasetWriter::~DatasetWriter() {
  if (!impl_ || impl_->finished) return;
  h5::ErrorSilencer silence;
  impl_->blob.reset();
  impl_->removeTmp();
}

int64_t DatasetWriter::count() const { return static_cast<int64_t>(impl_->table.size()); }

void DatasetWriter::add(const SampleRecord& r) {
  Impl& m = *impl_;
  AGREID_CHECK(!m.finished, "DatasetWriter::add after finish()");
  AGREID_CHECK(r.attributes.size() == m.options.attribute_names.size(), "sample ", m.table.size(),
               " (", r.path, ") has ", r.attributes.size(), " attributes, the writer expects ",
               m.options.attribute_names.size());
  AGREID_CHECK(r.camid >= 0, "sample ", r.path, " has negative camera ", r.camid);
  h5::ErrorSilencer silence;
  m.blob->append(r.jpeg.data(), r.jpeg.size());
  m.table.offsets.push_back(m.table.offsets.back() + static_cast<int64_t>(r.jpeg.size()));
  m.table.pid.push_back(r.pid);
  m.table.camid.push_back(r.camid);
  m.table.split.push_back(static_cast<uint8_t>(r.split));
  m.table.label.push_back(r.label);
  m.table.occluded.push_back(r.occluded ? 1 : 0);
  m.table.path.push_back(r.path);
  m.attributes.insert(m.attributes.end(), r.attributes.begin(), r.attributes.end());
  m.caption_blob.insert(m.caption_blob.end(), r.caption.begin(), r.caption.end());
  m.caption_offsets.push_back(static_cast<int64_t>(m.caption_blob.size()));
  m.any_caption = m.any_caption || !r.caption.empty();
}

DatasetInfo DatasetWriter::finish() {
  Impl& m = *impl_;
  AGREID_CHECK(!m.finished, "DatasetWriter::finish called twice");
  h5::ErrorSilencer silence;
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
                      m.any_caption ? &caption : nullptr);
      }
      begin = end;
    }
  }
  DatasetInfo info;
  info.format_version = kFormatVersion;
  info.name = m.options.name;
  info.source = m.options.source;
  info.checksum = sum.finish(static_cast<int64_t>(n), m.options.attribute_names, attribute_values,
                             m.any_caption);
  info.attribute_names = m.options.attribute_names;
  info.attribute_values = attribute_values;
  info.has_captions = m.any_caption;

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

  m.blob.reset();
  if (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) throw InputError(m.tmp_path + ": flush failed");
  m.file.reset();
  fsyncPath(m.tmp_path, /*directory=*/false);
  if (std::rename(m.tmp_path.c_str(), m.path.c_str()) != 0) {
    throw InputError(m.path + ": cannot rename " + m.tmp_path + ": " + std::strerror(errno));
  }
  m.finished = true;
  std::filesystem::path parent = std::filesystem::path(m.path).parent_path();
  fsyncPath(parent.empty() ? "." : parent.string(), /*directory=*/true);
  return info;
}

}  // namespace agreid::data
