// Writing helpers of data/hdf5_util.h: datasets, strings, attributes, the appendable byte
// dataset, and the two ways a written file ends (checked close, or abandon after a failure).
#include <sys/mman.h>
#include <unistd.h>

#include "base/check.h"
#include "base/error.h"
#include "data/hdf5_util.h"

namespace agreid::data::h5 {
namespace {

// Creation properties without modification times, so that the same content gives byte-identical
// files (HDF5 stores object times by default).
Handle untimedCreation(hid_t property_class) {
  Handle plist(H5Pcreate(property_class));
  AGREID_CHECK(plist.valid(), "H5Pcreate failed");
  AGREID_CHECK(H5Pset_obj_track_times(plist.get(), false) >= 0, "H5Pset_obj_track_times failed");
  return plist;
}

// HDF5's sec2 driver records a failed system call as "... errno = 28, error message = 'No space
// left on device' ..." in one entry of the error stack.
herr_t findSystemReason(unsigned, const H5E_error2_t* entry, void* data) {
  auto* reason = static_cast<std::string*>(data);
  if (!reason->empty() || entry->desc == nullptr) return 0;
  const std::string desc = entry->desc;
  const std::string key = "error message = '";
  const size_t begin = desc.find(key);
  if (begin == std::string::npos) return 0;
  const size_t end = desc.find('\'', begin + key.size());
  *reason =
      desc.substr(begin + key.size(), end == std::string::npos ? end : end - begin - key.size());
  return 0;
}

std::string fileNameOf(hid_t object) {
  const ssize_t size = H5Fget_name(object, nullptr, 0);
  if (size <= 0) return "HDF5 file";
  std::string name(static_cast<size_t>(size) + 1, '\0');
  H5Fget_name(object, name.data(), name.size());
  name.resize(static_cast<size_t>(size));
  return name;
}

}  // namespace

[[noreturn]] void failWrite(hid_t object, const std::string& what) {
  std::string reason;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, &findSystemReason, &reason);
  if (reason.empty()) AGREID_CHECK(false, "HDF5 call failed: ", what);
  throw WriteError(fileNameOf(object) + ": cannot write " + what + ": " + reason, reason);
}

Handle createExclusive(const std::string& path, const std::string& label) {
  Handle fapl = fileAccess(/*file_locking=*/false);
  Handle file(H5Fcreate(path.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, fapl.get()));
  if (file.valid()) return file;
  std::string reason;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, &findSystemReason, &reason);
  throw InputError(label + ": cannot create the output file" +
                   (reason.empty() ? std::string(" (is its folder writable?)") : ": " + reason));
}

void detachFromDisk(hid_t file) noexcept {
  void* handle = nullptr;
  if (H5Fget_vfd_handle(file, H5P_DEFAULT, &handle) < 0 || handle == nullptr) return;
  const int fd = *static_cast<int*>(handle);
  const int sink = ::memfd_create("agreid-abandoned-hdf5", MFD_CLOEXEC);
  if (sink < 0) return;
  ::dup2(sink, fd);
  ::close(sink);
}

void closeAbandoned(Handle& file) noexcept {
  if (!file.valid()) return;
  ErrorSilencer silence;
  const unsigned kinds =
      H5F_OBJ_DATASET | H5F_OBJ_GROUP | H5F_OBJ_DATATYPE | H5F_OBJ_ATTR | H5F_OBJ_LOCAL;
  const ssize_t count = H5Fget_obj_count(file.get(), kinds);
  if (count > 0) {
    std::vector<hid_t> ids(static_cast<size_t>(count));
    const ssize_t got = H5Fget_obj_ids(file.get(), kinds, ids.size(), ids.data());
    for (ssize_t i = 0; i < got; ++i) Handle(ids[static_cast<size_t>(i)]).reset();
  }
  file.reset();
}

// --- Writing ---------------------------------------------------------------------------------

void writeAttribute(hid_t object, const std::string& name, const std::string& value) {
  Handle type = detail::variableStringType(H5T_CSET_UTF8);
  Handle space(H5Screate(H5S_SCALAR));
  Handle attr(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT));
  if (!attr.valid()) failWrite(object, "attribute " + name);
  const char* ptr = value.c_str();
  if (H5Awrite(attr.get(), type.get(), &ptr) < 0) failWrite(object, "attribute " + name);
}

void writeAttribute(hid_t object, const std::string& name, int64_t value) {
  Handle space(H5Screate(H5S_SCALAR));
  Handle attr(
      H5Acreate2(object, name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT));
  if (!attr.valid()) failWrite(object, "attribute " + name);
  if (H5Awrite(attr.get(), H5T_NATIVE_INT64, &value) < 0) failWrite(object, "attribute " + name);
}

Handle createGroup(hid_t file, const std::string& path) {
  Handle gcpl = untimedCreation(H5P_GROUP_CREATE);
  Handle group(H5Gcreate2(file, path.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT));
  if (!group.valid()) failWrite(file, "group " + path);
  return group;
}

template <typename T>
void writeDataset(hid_t file, const std::string& path, const std::vector<T>& values,
                  const std::vector<hsize_t>& dims) {
  hsize_t total = 1;
  for (hsize_t d : dims) total *= d;
  AGREID_CHECK(total == values.size(), "dataset ", path, " has ", values.size(),
               " values for its shape");
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  Handle dcpl = untimedCreation(H5P_DATASET_CREATE);
  Handle dset(H5Dcreate2(file, path.c_str(), detail::nativeType<T>(), space.get(), H5P_DEFAULT,
                         dcpl.get(), H5P_DEFAULT));
  if (!dset.valid()) failWrite(file, path);
  if (total > 0 && H5Dwrite(dset.get(), detail::nativeType<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT,
                            values.data()) < 0) {
    failWrite(file, path);
  }
}

template void writeDataset<uint8_t>(hid_t, const std::string&, const std::vector<uint8_t>&,
                                    const std::vector<hsize_t>&);
template void writeDataset<int16_t>(hid_t, const std::string&, const std::vector<int16_t>&,
                                    const std::vector<hsize_t>&);
template void writeDataset<int32_t>(hid_t, const std::string&, const std::vector<int32_t>&,
                                    const std::vector<hsize_t>&);
template void writeDataset<int64_t>(hid_t, const std::string&, const std::vector<int64_t>&,
                                    const std::vector<hsize_t>&);
template void writeDataset<float>(hid_t, const std::string&, const std::vector<float>&,
                                  const std::vector<hsize_t>&);

void writeStrings(hid_t file, const std::string& path, const std::vector<std::string>& values) {
  Handle type = detail::variableStringType(H5T_CSET_UTF8);
  const hsize_t n = values.size();
  Handle space(H5Screate_simple(1, &n, nullptr));
  Handle dcpl = untimedCreation(H5P_DATASET_CREATE);
  Handle dset(H5Dcreate2(file, path.c_str(), type.get(), space.get(), H5P_DEFAULT, dcpl.get(),
                         H5P_DEFAULT));
  if (!dset.valid()) failWrite(file, path);
  std::vector<const char*> ptrs;
  ptrs.reserve(values.size());
  for (const auto& s : values) ptrs.push_back(s.c_str());
  if (n > 0 && H5Dwrite(dset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0) {
    failWrite(file, path);
  }
}

ByteAppender::ByteAppender(hid_t file, const std::string& path, hsize_t chunk_bytes)
    : chunk_bytes_(chunk_bytes) {
  AGREID_CHECK(chunk_bytes > 0, "chunk_bytes must be positive");
  const hsize_t zero = 0, unlimited = H5S_UNLIMITED;
  Handle space(H5Screate_simple(1, &zero, &unlimited));
  Handle dcpl = untimedCreation(H5P_DATASET_CREATE);
  AGREID_CHECK(H5Pset_chunk(dcpl.get(), 1, &chunk_bytes_) >= 0, "H5Pset_chunk failed");
  dataset_ = Handle(H5Dcreate2(file, path.c_str(), H5T_NATIVE_UINT8, space.get(), H5P_DEFAULT,
                               dcpl.get(), H5P_DEFAULT));
  if (!dataset_.valid()) failWrite(file, path);
  buffer_.reserve(chunk_bytes_);
}

void ByteAppender::append(const uint8_t* data, size_t size) {
  buffer_.insert(buffer_.end(), data, data + size);
  if (buffer_.size() < chunk_bytes_) return;
  const size_t whole = buffer_.size() / chunk_bytes_ * chunk_bytes_;
  writeBytes(buffer_.data(), whole);
  buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(whole));
}

void ByteAppender::flush() {
  if (buffer_.empty()) return;
  writeBytes(buffer_.data(), buffer_.size());
  buffer_.clear();
}

void ByteAppender::writeBytes(const uint8_t* data, size_t size) {
  const hsize_t new_size = written_ + size;
  if (H5Dset_extent(dataset_.get(), &new_size) < 0) failWrite(dataset_.get(), "appended bytes");
  Handle file_space(H5Dget_space(dataset_.get()));
  const hsize_t start = written_, count = size;
  AGREID_CHECK(
      H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &start, nullptr, &count, nullptr) >= 0,
      "H5Sselect_hyperslab failed");
  Handle mem_space(H5Screate_simple(1, &count, nullptr));
  if (H5Dwrite(dataset_.get(), H5T_NATIVE_UINT8, mem_space.get(), file_space.get(), H5P_DEFAULT,
               data) < 0) {
    failWrite(dataset_.get(), "appended bytes");
  }
  written_ = new_size;
}

}  // namespace agreid::data::h5
