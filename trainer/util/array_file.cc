#include "trainer/util/array_file.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "base/check.h"
#include "base/error.h"

namespace agreid::trainer {
namespace {

// Closes an HDF5 identifier with the matching H5*close on scope exit.
class H5Id {
 public:
  H5Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~H5Id() {
    if (id_ >= 0) close_(id_);
  }
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

void silenceHdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

hid_t fileAccessList() {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_file_locking(fapl, false, true);
  return fapl;
}

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
    H5Id g(H5Gcreate2(file, group.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    AGREID_CHECK(g.ok(), "cannot create HDF5 group ", group);
  }
}

}  // namespace

struct ArrayFileWriter::Impl {
  std::string path;
  std::string tmp;
  hid_t file = -1;
  bool committed = false;
};

ArrayFileWriter::ArrayFileWriter(std::string path) : impl_(std::make_unique<Impl>()) {
  silenceHdf5();
  impl_->path = std::move(path);
  impl_->tmp = impl_->path + ".tmp." + std::to_string(::getpid());
  H5Id fapl(fileAccessList(), H5Pclose);
  impl_->file = H5Fcreate(impl_->tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
  if (impl_->file < 0) throw InputError(impl_->tmp + ": cannot create file");
}

ArrayFileWriter::~ArrayFileWriter() {
  if (impl_->file >= 0) H5Fclose(impl_->file);
  if (!impl_->committed) std::remove(impl_->tmp.c_str());
}

void ArrayFileWriter::writeTensor(const std::string& name, const at::Tensor& tensor) {
  at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
  if (t.scalar_type() != at::kInt && t.scalar_type() != at::kLong) t = t.to(at::kFloat);
  ensureGroups(impl_->file, name);
  std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
  if (dims.empty()) dims.push_back(1);
  H5Id space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  H5Id set(H5Dcreate2(impl_->file, name.c_str(), memType(t.scalar_type()), space.get(), H5P_DEFAULT,
                      H5P_DEFAULT, H5P_DEFAULT),
           H5Dclose);
  AGREID_CHECK(set.ok(), "cannot create dataset ", name, " in ", impl_->tmp);
  if (t.numel() > 0) {
    AGREID_CHECK(H5Dwrite(set.get(), memType(t.scalar_type()), H5S_ALL, H5S_ALL, H5P_DEFAULT,
                          t.data_ptr()) >= 0,
                 "cannot write dataset ", name);
  }
}

void ArrayFileWriter::writeAttribute(const std::string& name, const std::string& value) {
  H5Id type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), std::max<size_t>(1, value.size()));
  H5Id space(H5Screate(H5S_SCALAR), H5Sclose);
  H5Id attr(
      H5Acreate2(impl_->file, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
      H5Aclose);
  AGREID_CHECK(attr.ok(), "cannot create attribute ", name);
  std::string padded = value.empty() ? std::string(1, '\0') : value;
  AGREID_CHECK(H5Awrite(attr.get(), type.get(), padded.data()) >= 0, "cannot write ", name);
}

void ArrayFileWriter::commit() {
  AGREID_CHECK(H5Fclose(impl_->file) >= 0, "cannot close ", impl_->tmp);
  impl_->file = -1;
  int fd = ::open(impl_->tmp.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  std::error_code ec;
  std::filesystem::rename(impl_->tmp, impl_->path, ec);
  if (ec) throw InputError(impl_->path + ": cannot rename into place: " + ec.message());
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
  H5Id fapl(fileAccessList(), H5Pclose);
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
  H5Id set(H5Dopen2(impl_->file, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!set.ok()) throw InputError(impl_->path + ": cannot open array '" + name + "'");
  H5Id space(H5Dget_space(set.get()), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(std::max(rank, 0));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  H5Id type(H5Dget_type(set.get()), H5Tclose);
  at::ScalarType st = at::kFloat;
  if (H5Tget_class(type.get()) == H5T_INTEGER)
    st = H5Tget_size(type.get()) == 8 ? at::kLong : at::kInt;
  std::vector<int64_t> shape(dims.begin(), dims.end());
  // numpy bool arrays (h5py: an enum over int8) are read as their bytes, then as int32.
  const bool bool_enum = H5Tget_class(type.get()) == H5T_ENUM && H5Tget_size(type.get()) == 1;
  if (bool_enum) st = at::kChar;
  at::Tensor out = at::empty(shape, at::TensorOptions().dtype(st));
  H5Id native(bool_enum ? H5Tget_native_type(type.get(), H5T_DIR_ASCEND) : -1, H5Tclose);
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
  H5Id attr(H5Aopen(impl_->file, name.c_str(), H5P_DEFAULT), H5Aclose);
  H5Id type(H5Aget_type(attr.get()), H5Tclose);
  const auto fail = [&]() -> std::string {
    throw InputError(impl_->path + ": cannot read attribute '" + name +
                     "' (expected a string or an integer)");
  };
  // Integers (h5py writes a Python int so) are returned as their decimal text.
  if (H5Tget_class(type.get()) == H5T_INTEGER) {
    int64_t v = 0;
    if (H5Aread(attr.get(), H5T_NATIVE_INT64, &v) < 0) fail();
    return std::to_string(v);
  }
  if (H5Tget_class(type.get()) != H5T_STRING) fail();
  H5Id mem(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
  if (H5Tis_variable_str(type.get()) > 0) {  // h5py's default for a Python str
    H5Tset_size(mem.get(), H5T_VARIABLE);
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
  H5Id gid(H5Gopen2(impl_->file, g.c_str(), H5P_DEFAULT), H5Gclose);
  if (!gid.ok()) return names;
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
