#include "trainer/util/array_file.h"

#include <ATen/ATen.h>
#include <hdf5.h>

#include <algorithm>
#include <filesystem>

#include "base/atomic_file.h"
#include "base/check.h"
#include "base/error.h"
#include "data/hdf5_stored_strings.h"
#include "data/hdf5_util.h"

namespace agreid::trainer {
namespace {

using H5Id = data::h5::Handle;

void silenceHdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

hid_t memType(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return H5T_NATIVE_FLOAT;
    case at::kInt:
      return H5T_NATIVE_INT32;
    case at::kLong:
      return H5T_NATIVE_INT64;
    default:
      return -1;
  }
}

// Creates the intermediate groups of "a/b/c" (a and a/b).
void ensureGroups(hid_t file, const std::string& name) {
  for (size_t pos = name.find('/'); pos != std::string::npos; pos = name.find('/', pos + 1)) {
    const std::string group = name.substr(0, pos);
    if (H5Lexists(file, group.c_str(), H5P_DEFAULT) > 0) continue;
    H5Id g(H5Gcreate2(file, group.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (!g.valid()) data::h5::failWrite(file, "group " + group);
  }
}

}  // namespace

struct ArrayFileWriter::Impl {
  std::string path;
  std::string tmp;
  H5Id file;
  bool committed = false;

  // Closes the temporary without writing to disk again and removes it. Never throws.
  void abandon() noexcept {
    data::h5::detachFromDisk(file.get());
    data::h5::closeAbandoned(file);
    removeTempFile(tmp);
  }

  // Runs `step`; a failure abandons the file, and a failed write becomes one line naming `path`.
  template <typename Step>
  void guarded(Step&& step) {
    AGREID_CHECK(file.valid(), "ArrayFileWriter used after a failure or commit(): ", path);
    try {
      step();
    } catch (const data::h5::WriteError& e) {
      abandon();
      throw InputError(path + ": cannot write: " + e.reason());
    } catch (...) {
      abandon();
      throw;
    }
  }
};

ArrayFileWriter::ArrayFileWriter(std::string path) : impl_(std::make_unique<Impl>()) {
  silenceHdf5();
  impl_->path = std::move(path);
  impl_->tmp = tempPathFor(impl_->path);
  impl_->file = data::h5::createExclusive(impl_->tmp, impl_->path);
}

ArrayFileWriter::~ArrayFileWriter() {
  if (!impl_->committed && impl_->file.valid()) impl_->abandon();
}

void ArrayFileWriter::writeTensor(const std::string& name, const at::Tensor& tensor) {
  at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
  if (t.scalar_type() != at::kInt && t.scalar_type() != at::kLong) t = t.to(at::kFloat);
  impl_->guarded([&] {
    const hid_t file = impl_->file.get();
    ensureGroups(file, name);
    std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
    if (dims.empty()) dims.push_back(1);
    H5Id space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
    H5Id set(H5Dcreate2(file, name.c_str(), memType(t.scalar_type()), space.get(), H5P_DEFAULT,
                        H5P_DEFAULT, H5P_DEFAULT));
    if (!set.valid()) data::h5::failWrite(file, "array " + name);
    if (t.numel() > 0 && H5Dwrite(set.get(), memType(t.scalar_type()), H5S_ALL, H5S_ALL,
                                  H5P_DEFAULT, t.data_ptr()) < 0) {
      data::h5::failWrite(file, "array " + name);
    }
  });
}

void ArrayFileWriter::writeAttribute(const std::string& name, const std::string& value) {
  impl_->guarded([&] {
    const hid_t file = impl_->file.get();
    H5Id type(H5Tcopy(H5T_C_S1));
    H5Tset_size(type.get(), std::max<size_t>(1, value.size()));
    H5Id space(H5Screate(H5S_SCALAR));
    H5Id attr(H5Acreate2(file, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT));
    if (!attr.valid()) data::h5::failWrite(file, "attribute " + name);
    std::string padded = value.empty() ? std::string(1, '\0') : value;
    if (H5Awrite(attr.get(), type.get(), padded.data()) < 0) {
      data::h5::failWrite(file, "attribute " + name);
    }
  });
}

void ArrayFileWriter::commit() {
  // Everything reaches the disk while the file is still open (a failure here can be abandoned);
  // the close that follows has nothing left to write.
  impl_->guarded([&] {
    data::h5::flush(impl_->file.get());
    impl_->file.closeChecked("(close)");
  });
  commitTempFile(impl_->tmp, impl_->path);  // fsync, rename, fsync the folder
  impl_->committed = true;
}

struct ArrayFileReader::Impl {
  std::string path;
  hid_t file = -1;
};

ArrayFileReader::ArrayFileReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  silenceHdf5();
  impl_->path = path;
  if (!std::filesystem::is_regular_file(path)) throw InputError(path + ": file not found");
  H5Id fapl = data::h5::fileAccess(/*file_locking=*/false);
  impl_->file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
  if (impl_->file < 0) throw InputError(path + ": not an HDF5 file, or truncated");
}

ArrayFileReader::~ArrayFileReader() {
  if (impl_->file >= 0) H5Fclose(impl_->file);
}

bool ArrayFileReader::hasTensor(const std::string& name) const {
  // H5Lexists fails on a missing intermediate group; check each level.
  for (size_t pos = name.find('/'); pos != std::string::npos; pos = name.find('/', pos + 1)) {
    if (H5Lexists(impl_->file, name.substr(0, pos).c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return H5Lexists(impl_->file, name.c_str(), H5P_DEFAULT) > 0;
}

at::Tensor ArrayFileReader::readTensor(const std::string& name) const {
  if (!hasTensor(name)) throw InputError(impl_->path + ": missing array '" + name + "'");
  data::h5::checkChunkShape(impl_->file, name, impl_->path + ": array '" + name + "'");
  H5Id set(H5Dopen2(impl_->file, name.c_str(), H5P_DEFAULT));
  if (!set.valid()) throw InputError(impl_->path + ": cannot open array '" + name + "'");
  H5Id space(H5Dget_space(set.get()));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(std::max(rank, 0));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  H5Id type(H5Dget_type(set.get()));
  if (rank < 0 || !type.valid()) {
    throw InputError(impl_->path + ": cannot read the shape or type of array '" + name + "'");
  }
  data::h5::checkStorage(impl_->file, set.get(), impl_->path, "array '" + name + "'");
  at::ScalarType st = at::kFloat;
  if (H5Tget_class(type.get()) == H5T_INTEGER)
    st = H5Tget_size(type.get()) == 8 ? at::kLong : at::kInt;
  std::vector<int64_t> shape(dims.begin(), dims.end());
  // numpy bool arrays (h5py: an enum over int8) are read as their bytes, then as int32.
  const bool bool_enum = H5Tget_class(type.get()) == H5T_ENUM && H5Tget_size(type.get()) == 1;
  if (bool_enum) st = at::kChar;
  at::Tensor out = at::empty(shape, at::TensorOptions().dtype(st));
  H5Id native(bool_enum ? H5Tget_native_type(type.get(), H5T_DIR_ASCEND) : H5I_INVALID_HID);
  if (out.numel() > 0 && H5Dread(set.get(), bool_enum ? native.get() : memType(st), H5S_ALL,
                                 H5S_ALL, H5P_DEFAULT, out.data_ptr()) < 0) {
    throw InputError(impl_->path + ": cannot read array '" + name + "' (truncated file?)");
  }
  return bool_enum ? out.to(at::kInt) : out;
}

bool ArrayFileReader::hasAttribute(const std::string& name) const {
  return H5Aexists(impl_->file, name.c_str()) > 0;
}

std::string ArrayFileReader::readAttribute(const std::string& name) const {
  if (!hasAttribute(name)) throw InputError(impl_->path + ": missing attribute '" + name + "'");
  H5Id attr(H5Aopen(impl_->file, name.c_str(), H5P_DEFAULT));
  H5Id type(H5Aget_type(attr.get()));
  const auto fail = [&]() -> std::string {
    throw InputError(impl_->path + ": cannot read attribute '" + name +
                     "' (expected one string or one integer)");
  };
  if (data::h5::valueCount(attr.get()) != 1) fail();
  // Integers (h5py writes a Python int so) are returned as their decimal text.
  if (H5Tget_class(type.get()) == H5T_INTEGER) {
    int64_t v = 0;
    if (H5Aread(attr.get(), H5T_NATIVE_INT64, &v) < 0) fail();
    return std::to_string(v);
  }
  if (H5Tget_class(type.get()) != H5T_STRING) fail();
  H5Id mem(H5Tcopy(H5T_C_S1));
  H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
  if (H5Tis_variable_str(type.get()) > 0) {  // h5py's default for a Python str
    H5Tset_size(mem.get(), H5T_VARIABLE);
    data::h5::checkStoredAttributeStrings(impl_->file, impl_->path);
    char* text = nullptr;
    if (H5Aread(attr.get(), mem.get(), &text) < 0) fail();
    std::string value = text ? text : "";
    H5free_memory(text);
    return value;
  }
  // One more byte than stored: a null-padded string (numpy.bytes_) may fill all of its bytes,
  // and the null-terminated memory type needs room for the terminator.
  const size_t size = H5Tget_size(type.get()) + 1;
  std::string value(size, '\0');
  H5Tset_size(mem.get(), size);
  if (H5Aread(attr.get(), mem.get(), value.data()) < 0) fail();
  while (!value.empty() && value.back() == '\0') value.pop_back();
  return value;
}

std::vector<std::string> ArrayFileReader::list(const std::string& group) const {
  std::vector<std::string> names;
  const std::string g = group.empty() ? "/" : group;
  if (!group.empty() && !hasTensor(group)) return names;
  H5Id gid(H5Gopen2(impl_->file, g.c_str(), H5P_DEFAULT));
  if (!gid.valid()) return names;
  H5G_info_t info;
  H5Gget_info(gid.get(), &info);
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t len =
        H5Lget_name_by_idx(gid.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    std::string name(static_cast<size_t>(len) + 1, '\0');
    H5Lget_name_by_idx(gid.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                       H5P_DEFAULT);
    name.resize(static_cast<size_t>(len));
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace agreid::trainer
