#include "data/hdf5_util.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "base/check.h"
#include "base/error.h"
#include "data/hdf5_heap_guard.h"
#include "data/hdf5_stored_strings.h"

namespace agreid::data::h5 {
namespace {

// HDF5 1.10 cannot close a file whose flush failed in the metadata phase (its cache stays in a
// "being flushed" state: "slist already enabled?"), and its exit handler then crashes on that
// file (H5F__close_cb). agreid closes every file it opens itself, so HDF5's exit handler has
// nothing to do; turning it off (before the library's first use, hence a static initialiser)
// makes an abandoned file a leaked identifier instead of a crash at exit.
[[maybe_unused]] const bool kNoHdf5ExitHandler = H5dont_atexit() >= 0;

bool typeMatches(hid_t type, Type expected) {
  const H5T_class_t cls = H5Tget_class(type);
  if (expected == Type::kString) return cls == H5T_STRING && H5Tis_variable_str(type) > 0;
  if (expected == Type::kFloat32) return cls == H5T_FLOAT && H5Tget_size(type) == 4;
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
    case Type::kFloat32:
    case Type::kString:
      break;
  }
  return false;
}

herr_t closeObject(hid_t id) {
  switch (H5Iget_type(id)) {
    case H5I_FILE:
      return H5Fclose(id);
    case H5I_GROUP:
      return H5Gclose(id);
    case H5I_DATASET:
      return H5Dclose(id);
    case H5I_DATASPACE:
      return H5Sclose(id);
    case H5I_DATATYPE:
      return H5Tclose(id);
    case H5I_ATTR:
      return H5Aclose(id);
    case H5I_GENPROP_LST:
      return H5Pclose(id);
    default:
      return 0;
  }
}

}  // namespace

namespace detail {

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

Handle variableStringType(H5T_cset_t cset) {
  Handle type(H5Tcopy(H5T_C_S1));
  AGREID_CHECK(type.valid(), "H5Tcopy failed");
  AGREID_CHECK(H5Tset_size(type.get(), H5T_VARIABLE) >= 0, "H5Tset_size failed");
  // A damaged file may record a character set HDF5 does not know (a fuzzing finding): the bytes
  // are read as they are, labelled ASCII.
  if (cset != H5T_CSET_UTF8) cset = H5T_CSET_ASCII;
  AGREID_CHECK(H5Tset_cset(type.get(), cset) >= 0, "H5Tset_cset failed");
  return type;
}

}  // namespace detail

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
  closeObject(id_);
  id_ = H5I_INVALID_HID;
}

void flush(hid_t file) {
  if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0) failWrite(file, "(flush to disk)");
}

void Handle::closeChecked(const std::string& what) {
  if (id_ < 0) return;
  const hid_t id = id_;
  // A failed close leaves HDF5 in a state where closing again crashes: give the id up.
  id_ = H5I_INVALID_HID;
  if (closeObject(id) < 0) failWrite(id, what);
}

ErrorSilencer::ErrorSilencer() {
  H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

ErrorSilencer::~ErrorSilencer() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

Handle fileAccess(bool file_locking) {
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS));
  AGREID_CHECK(fapl.valid(), "H5Pcreate(H5P_FILE_ACCESS) failed");
  AGREID_CHECK(H5Pset_driver(fapl.get(), guardedDriver(), nullptr) >= 0, "H5Pset_driver failed");
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
    case Type::kFloat32:
      return "float32";
    case Type::kString:
      return "variable-length string";
  }
  return "?";
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
  checkChunkShape(file, path, file_label + ": field " + path);
  Handle dset(H5Dopen2(file, path.c_str(), H5P_DEFAULT));
  if (!dset.valid()) throw InputError(file_label + ": " + path + " is not a dataset");
  Handle ftype(H5Dget_type(dset.get()));
  if (!typeMatches(ftype.get(), type)) {
    throw InputError(file_label + ": field " + path + " has type " +
                     detail::describeType(ftype.get()) + ", expected " + typeName(type));
  }
  Handle space(H5Dget_space(dset.get()));
  const int actual_rank = H5Sget_simple_extent_ndims(space.get());
  if (actual_rank != rank) {
    throw InputError(file_label + ": field " + path + " has " + std::to_string(actual_rank) +
                     " dimensions, expected " + std::to_string(rank));
  }
  dims->assign(static_cast<size_t>(rank), 0);
  H5Sget_simple_extent_dims(space.get(), dims->data(), nullptr);
  checkStorage(file, dset.get(), file_label, "field " + path);
  return dset;
}

namespace {

// Bytes of one stored element: a variable-length one is its length (4 bytes), the heap's address
// and the object's index (4 bytes); 0 when the file's sizes cannot be read.
uint64_t storedElementBytes(hid_t file, hid_t type) {
  if (H5Tis_variable_str(type) <= 0 && H5Tget_class(type) != H5T_VLEN) {
    return std::max<size_t>(H5Tget_size(type), 1);
  }
  Handle fcpl(H5Fget_create_plist(file));
  size_t address_bytes = 0, length_bytes = 0;
  if (!fcpl.valid() || H5Pget_sizes(fcpl.get(), &address_bytes, &length_bytes) < 0) return 0;
  return 4 + address_bytes + 4;
}

}  // namespace

// libhdf5 reads a compact or contiguous field's elements from the stored bytes without comparing
// their size with what the dataspace needs: a compact field of 0 bytes made it copy from a null
// pointer (a crash), a contiguous one of 0 bytes made it read the bytes after it as elements
// (a 4 GiB string length). A damaged header may also claim more than the file can hold.
void checkStorage(hid_t file, hid_t dataset, const std::string& file_label,
                  const std::string& what) {
  Handle type(H5Dget_type(dataset));
  Handle space(H5Dget_space(dataset));
  const int rank = type.valid() && space.valid() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  const uint64_t element = rank >= 0 ? storedElementBytes(file, type.get()) : 0;
  hsize_t file_bytes = 0;
  if (rank < 0 || element == 0) {
    throw InputError(file_label + ": cannot read the shape or type of " + what);
  }
  if (H5Fget_filesize(file, &file_bytes) < 0) {
    throw InputError(file_label + ": cannot read its size");
  }
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  uint64_t bytes = element;
  bool overflow = false;
  for (const hsize_t d : dims) {
    if (d == 0) return;  // empty: nothing to allocate or read
    overflow = overflow || __builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes);
  }
  Handle plist(H5Dget_create_plist(dataset));
  // Deflate, the one filter h5py commonly applies, expands at most about 1032:1.
  const int filters = plist.valid() ? H5Pget_nfilters(plist.get()) : 0;
  const uint64_t limit = filters > 0 ? file_bytes * 1032 : file_bytes;
  // H5Dget_offset is HADDR_UNDEF for chunked or unallocated storage.
  const hsize_t stored = H5Dget_storage_size(dataset);
  const haddr_t offset = H5Dget_offset(dataset);
  const bool compact = plist.valid() && H5Pget_layout(plist.get()) == H5D_COMPACT;
  if (stored > file_bytes ||
      (offset != HADDR_UNDEF && (offset > file_bytes || stored > file_bytes - offset))) {
    throw InputError(file_label + ": " + what + " records storage outside the " +
                     std::to_string(file_bytes) + "-byte file (corrupt header?)");
  }
  if (overflow || bytes > limit) {
    throw InputError(file_label + ": " + what + " claims " +
                     (overflow ? std::string("over 2^64") : std::to_string(bytes)) +
                     " bytes, more than the " + std::to_string(file_bytes) +
                     "-byte file can hold (corrupt header?)");
  }
  if ((compact || offset != HADDR_UNDEF) && stored < bytes) {
    throw InputError(file_label + ": " + what + ": stores " + std::to_string(stored) + " bytes" +
                     (compact ? " in its header" : "") + ", fewer than its " +
                     std::to_string(bytes / element) + " elements need (corrupt file?)");
  }
}

namespace {

// "<file>: <object path>" of an open object, for messages about a damaged file.
std::string objectLabel(hid_t object) {
  const auto nameOf = [&](auto get) {
    const ssize_t n = get(object, nullptr, 0);
    if (n <= 0) return std::string("?");
    std::string name(static_cast<size_t>(n) + 1, '\0');
    get(object, name.data(), name.size());
    name.resize(static_cast<size_t>(n));
    return name;
  };
  return nameOf(H5Fget_name) + ": " + nameOf(H5Iget_name);
}

}  // namespace

template <typename T>
std::vector<T> readAll(hid_t dataset, hsize_t count) {
  std::vector<T> values(count);
  if (count > 0) {
    if (H5Dread(dataset, detail::nativeType<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) <
        0) {
      throw InputError(objectLabel(dataset) + ": cannot read its values (corrupt file?)");
    }
  }
  return values;
}

template std::vector<uint8_t> readAll<uint8_t>(hid_t, hsize_t);
template std::vector<int16_t> readAll<int16_t>(hid_t, hsize_t);
template std::vector<int32_t> readAll<int32_t>(hid_t, hsize_t);
template std::vector<int64_t> readAll<int64_t>(hid_t, hsize_t);
template std::vector<float> readAll<float>(hid_t, hsize_t);

std::vector<std::string> readStrings(hid_t dataset, const std::string& file_label,
                                     const std::string& path, hsize_t count) {
  std::vector<std::string> out;
  if (count == 0) return out;
  checkStoredStrings(dataset, file_label, path);
  Handle ftype(H5Dget_type(dataset));
  Handle mtype = detail::variableStringType(H5Tget_cset(ftype.get()));
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
  if (H5Dread(dataset, H5T_NATIVE_UINT8, mem_space.get(), file_space.get(), H5P_DEFAULT,
              out.data()) < 0) {
    throw InputError(objectLabel(dataset) + ": cannot read bytes [" + std::to_string(begin) + ", " +
                     std::to_string(end) + ") (corrupt file?)");
  }
  return out;
}

}  // namespace agreid::data::h5
