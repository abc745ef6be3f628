#include "data/hdf5_util.h"

#include <cstdlib>
#include <sstream>

#include "base/check.h"
#include "base/error.h"

namespace agreid::data::h5 {
namespace {

template <typename T>
hid_t nativeType();
template <>
hid_t nativeType<uint8_t>() {
  return H5T_NATIVE_UINT8;
}
template <>
hid_t nativeType<int16_t>() {
  return H5T_NATIVE_INT16;
}
template <>
hid_t nativeType<int32_t>() {
  return H5T_NATIVE_INT32;
}
template <>
hid_t nativeType<int64_t>() {
  return H5T_NATIVE_INT64;
}

// Creation properties without modification times, so that the same content gives byte-identical
// files (HDF5 stores object times by default).
Handle untimedCreation(hid_t property_class) {
  Handle plist(H5Pcreate(property_class));
  AGREID_CHECK(plist.valid(), "H5Pcreate failed");
  AGREID_CHECK(H5Pset_obj_track_times(plist.get(), false) >= 0, "H5Pset_obj_track_times failed");
  return plist;
}

Handle variableStringType(H5T_cset_t cset) {
  Handle type(H5Tcopy(H5T_C_S1));
  AGREID_CHECK(type.valid(), "H5Tcopy failed");
  AGREID_CHECK(H5Tset_size(type.get(), H5T_VARIABLE) >= 0, "H5Tset_size failed");
  AGREID_CHECK(H5Tset_cset(type.get(), cset) >= 0, "H5Tset_cset failed");
  return type;
}

std::string describeType(hid_t type) {
  const H5T_class_t cls = H5Tget_class(type);
  std::ostringstream os;
  switch (cls) {
    case H5T_INTEGER:
      os << (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") << 8 * H5Tget_size(type);
      break;
    case H5T_FLOAT:
      os << "float" << 8 * H5Tget_size(type);
      break;
    case H5T_STRING:
      os << (H5Tis_variable_str(type) > 0 ? "variable-length string" : "fixed-length string");
      break;
    default:
      os << "HDF5 type class " << static_cast<int>(cls);
  }
  return os.str();
}

bool typeMatches(hid_t type, Type expected) {
  const H5T_class_t cls = H5Tget_class(type);
  if (expected == Type::kString) return cls == H5T_STRING && H5Tis_variable_str(type) > 0;
  if (cls != H5T_INTEGER) return false;
  const size_t size = H5Tget_size(type);
  const bool is_signed = H5Tget_sign(type) == H5T_SGN_2;
  switch (expected) {
    case Type::kUint8:
      return size == 1 && !is_signed;
    case Type::kInt16:
      return size == 2 && is_signed;
    case Type::kInt32:
      return size == 4 && is_signed;
    case Type::kInt64:
      return size == 8 && is_signed;
    case Type::kString:
      break;
  }
  return false;
}

}  // namespace

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = other.id_;
    other.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Handle::reset() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE:
      H5Fclose(id_);
      break;
    case H5I_GROUP:
      H5Gclose(id_);
      break;
    case H5I_DATASET:
      H5Dclose(id_);
      break;
    case H5I_DATASPACE:
      H5Sclose(id_);
      break;
    case H5I_DATATYPE:
      H5Tclose(id_);
      break;
    case H5I_ATTR:
      H5Aclose(id_);
      break;
    case H5I_GENPROP_LST:
      H5Pclose(id_);
      break;
    default:
      break;
  }
  id_ = H5I_INVALID_HID;
}

ErrorSilencer::ErrorSilencer() {
  H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

ErrorSilencer::~ErrorSilencer() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

Handle fileAccess(bool file_locking) {
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS));
  AGREID_CHECK(fapl.valid(), "H5Pcreate(H5P_FILE_ACCESS) failed");
#if H5_VERSION_GE(1, 10, 7)
  AGREID_CHECK(H5Pset_file_locking(fapl.get(), file_locking, /*ignore_when_disabled=*/true) >= 0,
               "H5Pset_file_locking failed");
#else
  // Older HDF5 reads the switch from the environment only (docs/data-format.md).
  if (!file_locking) ::setenv("HDF5_USE_FILE_LOCKING", "FALSE", /*overwrite=*/0);
#endif
  return fapl;
}

const char* typeName(Type type) {
  switch (type) {
    case Type::kUint8:
      return "uint8";
    case Type::kInt16:
      return "int16";
    case Type::kInt32:
      return "int32";
    case Type::kInt64:
      return "int64";
    case Type::kString:
      return "variable-length string";
  }
  return "?";
}

// --- Writing ---------------------------------------------------------------------------------

void writeAttribute(hid_t object, const std::string& name, const std::string& value) {
  Handle type = variableStringType(H5T_CSET_UTF8);
  Handle space(H5Screate(H5S_SCALAR));
  Handle attr(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT));
  AGREID_CHECK(attr.valid(), "H5Acreate2 failed for attribute ", name);
  const char* ptr = value.c_str();
  AGREID_CHECK(H5Awrite(attr.get(), type.get(), &ptr) >= 0, "H5Awrite failed for ", name);
}

void writeAttribute(hid_t object, const std::string& name, int64_t value) {
  Handle space(H5Screate(H5S_SCALAR));
  Handle attr(
      H5Acreate2(object, name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT));
  AGREID_CHECK(attr.valid(), "H5Acreate2 failed for attribute ", name);
  AGREID_CHECK(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value) >= 0, "H5Awrite failed for ", name);
}

Handle createGroup(hid_t file, const std::string& path) {
  Handle gcpl = untimedCreation(H5P_GROUP_CREATE);
  Handle group(H5Gcreate2(file, path.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT));
  AGREID_CHECK(group.valid(), "H5Gcreate2 failed for ", path);
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
  Handle dset(H5Dcreate2(file, path.c_str(), nativeType<T>(), space.get(), H5P_DEFAULT, dcpl.get(),
                         H5P_DEFAULT));
  AGREID_CHECK(dset.valid(), "H5Dcreate2 failed for ", path);
  if (total > 0) {
    AGREID_CHECK(
        H5Dwrite(dset.get(), nativeType<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0,
        "H5Dwrite failed for ", path);
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

void writeStrings(hid_t file, const std::string& path, const std::vector<std::string>& values) {
  Handle type = variableStringType(H5T_CSET_UTF8);
  const hsize_t n = values.size();
  Handle space(H5Screate_simple(1, &n, nullptr));
  Handle dcpl = untimedCreation(H5P_DATASET_CREATE);
  Handle dset(H5Dcreate2(file, path.c_str(), type.get(), space.get(), H5P_DEFAULT, dcpl.get(),
                         H5P_DEFAULT));
  AGREID_CHECK(dset.valid(), "H5Dcreate2 failed for ", path);
  std::vector<const char*> ptrs;
  ptrs.reserve(values.size());
  for (const auto& s : values) ptrs.push_back(s.c_str());
  if (n > 0) {
    AGREID_CHECK(H5Dwrite(dset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) >= 0,
                 "H5Dwrite failed for ", path);
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
  AGREID_CHECK(dataset_.valid(), "H5Dcreate2 failed for ", path);
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
  AGREID_CHECK(H5Dset_extent(dataset_.get(), &new_size) >= 0, "H5Dset_extent failed");
  Handle file_space(H5Dget_space(dataset_.get()));
  const hsize_t start = written_, count = size;
  AGREID_CHECK(
      H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &start, nullptr, &count, nullptr) >= 0,
      "H5Sselect_hyperslab failed");
  Handle mem_space(H5Screate_simple(1, &count, nullptr));
  AGREID_CHECK(H5Dwrite(dataset_.get(), H5T_NATIVE_UINT8, mem_space.get(), file_space.get(),
                        H5P_DEFAULT, data) >= 0,
               "H5Dwrite failed while appending ", size, " bytes");
  written_ = new_size;
}

// --- Reading ---------------------------------------------------------------------------------

bool exists(hid_t file, const std::string& path) {
  // H5Lexists fails (rather than returning 0) when an intermediate group is missing, so each
  // prefix is checked in turn.
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    const std::string prefix = path.substr(0, pos);
    if (prefix.empty() || prefix == "/") continue;
    if (H5Lexists(file, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return true;
}

Handle openDataset(hid_t file, const std::string& file_label, const std::string& path, Type type,
                   int rank, std::vector<hsize_t>* dims) {
  if (!exists(file, path)) {
    throw InputError(file_label + ": missing required field " + path);
  }
  Handle dset(H5Dopen2(file, path.c_str(), H5P_DEFAULT));
  if (!dset.valid()) throw InputError(file_label + ": " + path + " is not a dataset");
  Handle ftype(H5Dget_type(dset.get()));
  if (!typeMatches(ftype.get(), type)) {
    throw InputError(file_label + ": field " + path + " has type " + describeType(ftype.get()) +
                     ", expected " + typeName(type));
  }
  Handle space(H5Dget_space(dset.get()));
  const int actual_rank = H5Sget_simple_extent_ndims(space.get());
  if (actual_rank != rank) {
    throw InputError(file_label + ": field " + path + " has " + std::to_string(actual_rank) +
                     " dimensions, expected " + std::to_string(rank));
  }
  dims->assign(static_cast<size_t>(rank), 0);
  H5Sget_simple_extent_dims(space.get(), dims->data(), nullptr);
  return dset;
}

template <typename T>
std::vector<T> readAll(hid_t dataset, hsize_t count) {
  std::vector<T> values(count);
  if (count > 0) {
    AGREID_CHECK(
        H5Dread(dataset, nativeType<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0,
        "H5Dread failed");
  }
  return values;
}

template std::vector<uint8_t> readAll<uint8_t>(hid_t, hsize_t);
template std::vector<int16_t> readAll<int16_t>(hid_t, hsize_t);
template std::vector<int32_t> readAll<int32_t>(hid_t, hsize_t);
template std::vector<int64_t> readAll<int64_t>(hid_t, hsize_t);

std::vector<std::string> readStrings(hid_t dataset, const std::string& file_label,
                                     const std::string& path, hsize_t count) {
  std::vector<std::string> out;
  if (count == 0) return out;
  Handle ftype(H5Dget_type(dataset));
  Handle mtype = variableStringType(H5Tget_cset(ftype.get()));
  std::vector<char*> ptrs(count, nullptr);
  if (H5Dread(dataset, mtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0) {
    throw InputError(file_label + ": cannot read the strings of " + path);
  }
  out.reserve(count);
  for (char* p : ptrs) out.emplace_back(p ? p : "");
  Handle space(H5Dget_space(dataset));
  H5Dvlen_reclaim(mtype.get(), space.get(), H5P_DEFAULT, ptrs.data());
  return out;
}

std::vector<uint8_t> readBytes(hid_t dataset, hsize_t begin, hsize_t end) {
  AGREID_CHECK(begin <= end, "byte range [", begin, ", ", end, ") is reversed");
  std::vector<uint8_t> out(end - begin);
  if (out.empty()) return out;
  Handle file_space(H5Dget_space(dataset));
  const hsize_t count = end - begin;
  AGREID_CHECK(
      H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &begin, nullptr, &count, nullptr) >= 0,
      "H5Sselect_hyperslab failed for [", begin, ", ", end, ")");
  Handle mem_space(H5Screate_simple(1, &count, nullptr));
  AGREID_CHECK(H5Dread(dataset, H5T_NATIVE_UINT8, mem_space.get(), file_space.get(), H5P_DEFAULT,
                       out.data()) >= 0,
               "H5Dread failed for bytes [", begin, ", ", end, ")");
  return out;
}

bool hasAttribute(hid_t object, const std::string& name) {
  return H5Aexists(object, name.c_str()) > 0;
}

std::string readStringAttribute(hid_t object, const std::string& file_label,
                                const std::string& name) {
  if (!hasAttribute(object, name)) {
    throw InputError(file_label + ": missing required root attribute '" + name + "'");
  }
  Handle attr(H5Aopen(object, name.c_str(), H5P_DEFAULT));
  Handle ftype(H5Aget_type(attr.get()));
  if (H5Tget_class(ftype.get()) != H5T_STRING) {
    throw InputError(file_label + ": root attribute '" + name + "' has type " +
                     describeType(ftype.get()) + ", expected a string");
  }
  if (H5Tis_variable_str(ftype.get()) > 0) {
    Handle mtype = variableStringType(H5Tget_cset(ftype.get()));
    char* ptr = nullptr;
    AGREID_CHECK(H5Aread(attr.get(), mtype.get(), &ptr) >= 0, "H5Aread failed for ", name);
    std::string value = ptr ? ptr : "";
    H5free_memory(ptr);
    return value;
  }
  const size_t size = H5Tget_size(ftype.get());
  std::string value(size, '\0');
  AGREID_CHECK(H5Aread(attr.get(), ftype.get(), value.data()) >= 0, "H5Aread failed for ", name);
  const size_t nul = value.find('\0');
  if (nul != std::string::npos) value.resize(nul);
  return value;
}

int64_t readIntAttribute(hid_t object, const std::string& file_label, const std::string& name) {
  if (!hasAttribute(object, name)) {
    throw InputError(file_label + ": missing required root attribute '" + name + "'");
  }
  Handle attr(H5Aopen(object, name.c_str(), H5P_DEFAULT));
  Handle ftype(H5Aget_type(attr.get()));
  Handle space(H5Aget_space(attr.get()));
  if (H5Tget_class(ftype.get()) != H5T_INTEGER || H5Sget_simple_extent_npoints(space.get()) != 1) {
    throw InputError(file_label + ": root attribute '" + name + "' has type " +
                     describeType(ftype.get()) + ", expected one integer");
  }
  int64_t value = 0;
  AGREID_CHECK(H5Aread(attr.get(), H5T_NATIVE_INT64, &value) >= 0, "H5Aread failed for ", name);
  return value;
}

}  // namespace agreid::data::h5
