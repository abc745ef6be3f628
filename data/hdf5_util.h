// Thin RAII and I/O helpers over the HDF5 C API, used by every HDF5 file of agreid (dataset reader
// and writer, trainer/util/array_file). Every helper throws InputError naming the file and the
// object path for problems caused by the file's content, WriteError (an InputError) when writing
// fails for a reason the system reports (disk full, quota, I/O error), and InternalError
// (AGREID_CHECK) for failed library calls that indicate a bug.
//
// Writers create files with createExclusive() (a unique temporary, base/atomic_file.h) and end in
// one of two defined ways: closeChecked() on every object and then the file (a failed flush or
// close throws WriteError), or, after any failure, detachFromDisk(), release of the object
// handles, closeAbandoned(): the file's descriptor then points at an anonymous in-memory file so
// that the flushes of closing cannot fail again. (HDF5 1.10 crashes at exit, in H5F__close_cb,
// when a file whose close failed is left open; closing such a file twice crashes at once.)
//
// Thread-safety: HDF5 is not thread-safe; use these from one thread at a time per process.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"

namespace agreid::data::h5 {

// Owns one HDF5 identifier and closes it with the matching H5?close function.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept : id_(other.id_) { other.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();  // closes, ignoring failure
  // Closes; a failure throws WriteError (system reason) or InternalError. `what` names the object.
  void closeChecked(const std::string& what);

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// Silences HDF5's automatic error-stack printing for its lifetime and restores the previous
// handler afterwards (errors are turned into exceptions with our own messages instead).
class ErrorSilencer {
 public:
  ErrorSilencer();
  ~ErrorSilencer();
  ErrorSilencer(const ErrorSilencer&) = delete;
  ErrorSilencer& operator=(const ErrorSilencer&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// A file-access property list for HDF5's POSIX driver with the global heap guard
// (data/hdf5_heap_guard.h) and file locking on or off (H5Pset_file_locking when HDF5 >=
// 1.10.7; otherwise HDF5_USE_FILE_LOCKING=FALSE is set in the environment before opening).
Handle fileAccess(bool file_locking);

// A write failed for a reason the system reports ("No space left on device"); what() is one line
// naming the file HDF5 was writing.
class WriteError : public InputError {
 public:
  WriteError(const std::string& what, std::string reason)
      : InputError(what), reason_(std::move(reason)) {}
  const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
};

// Throws WriteError when HDF5's error stack holds a system error (errno text), else InternalError;
// `what` says which call on which object failed.
[[noreturn]] void failWrite(hid_t object, const std::string& what);

// H5Fflush of the whole file; a failure throws WriteError (or InternalError).
void flush(hid_t file);

// Creates `path` for writing; fails when anything (a file, a symbolic link) exists there
// (H5F_ACC_EXCL). Throws InputError naming `label` and the system's reason.
Handle createExclusive(const std::string& path, const std::string& label);

// Gives up a file being written, in this order: detachFromDisk(file) points its descriptor at an
// anonymous in-memory file; the caller releases its handles to objects of the file (they now
// close without touching the disk); closeAbandoned(file) closes any object still open in it and
// the file. Neither throws. The caller then removes the temporary from disk.
void detachFromDisk(hid_t file) noexcept;
void closeAbandoned(Handle& file) noexcept;

// Element types this module stores.
enum class Type { kUint8, kInt16, kInt32, kInt64, kFloat32, kString };
const char* typeName(Type type);

namespace detail {
// The HDF5 memory type of T, and a variable-length string type (shared by writing and reading).
template <typename T>
hid_t nativeType();
template <>
inline hid_t nativeType<uint8_t>() {
  return H5T_NATIVE_UINT8;
}
template <>
inline hid_t nativeType<int16_t>() {
  return H5T_NATIVE_INT16;
}
template <>
inline hid_t nativeType<int32_t>() {
  return H5T_NATIVE_INT32;
}
template <>
inline hid_t nativeType<int64_t>() {
  return H5T_NATIVE_INT64;
}
template <>
inline hid_t nativeType<float>() {
  return H5T_NATIVE_FLOAT;
}
Handle variableStringType(H5T_cset_t cset);
// "int32", "float32", "variable-length string", ... for messages.
std::string describeType(hid_t type);
}  // namespace detail

// --- Writing (hdf5_write.cc)
// ---------------------------------------------------------------------------------

void writeAttribute(hid_t object, const std::string& name, const std::string& value);
void writeAttribute(hid_t object, const std::string& name, int64_t value);

Handle createGroup(hid_t file, const std::string& path);

// A fixed-size dataset of rank 1 or 2 (`dims`), written whole.
template <typename T>
void writeDataset(hid_t file, const std::string& path, const std::vector<T>& values,
                  const std::vector<hsize_t>& dims);
void writeStrings(hid_t file, const std::string& path, const std::vector<std::string>& values);

// A one-dimensional uint8 dataset that grows by appends (chunked, unlimited maximum size).
class ByteAppender {
 public:
  ByteAppender(hid_t file, const std::string& path, hsize_t chunk_bytes);
  void append(const uint8_t* data, size_t size);  // buffered; full chunks are written
  void flush();                                   // writes the buffered tail
  hsize_t size() const { return written_ + buffer_.size(); }

 private:
  void writeBytes(const uint8_t* data, size_t size);
  Handle dataset_;
  hsize_t chunk_bytes_;
  hsize_t written_ = 0;
  std::vector<uint8_t> buffer_;
};

// --- Reading ---------------------------------------------------------------------------------

// `file_label` names the file in error messages.
bool exists(hid_t file, const std::string& path);

// Opens a required dataset, checks its element type and rank; returns its dimensions.
Handle openDataset(hid_t file, const std::string& file_label, const std::string& path, Type type,
                   int rank, std::vector<hsize_t>* dims);

// Refuses, before anything is allocated or read for it, a dataset whose header claims more bytes
// than its file can hold (a damaged header can claim petabytes), records storage outside the file,
// or stores fewer bytes (compact or contiguous) than its elements need: libhdf5 reads them from
// there without comparing (through a NULL buffer for a compact field of 0 bytes, from the bytes
// after a short contiguous one). A variable-length element is counted as stored: its length and
// heap reference. `what` names the dataset in the InputError, which also names `file_label`.
// openDataset() applies it to every field.
void checkStorage(hid_t file, hid_t dataset, const std::string& file_label,
                  const std::string& what);

template <typename T>
std::vector<T> readAll(hid_t dataset, hsize_t count);
std::vector<std::string> readStrings(hid_t dataset, const std::string& file_label,
                                     const std::string& path, hsize_t count);
// Reads elements [begin, end) of a one-dimensional uint8 dataset in one hyperslab read.
std::vector<uint8_t> readBytes(hid_t dataset, hsize_t begin, hsize_t end);

// --- Root attributes (hdf5_attributes.cc)
bool hasAttribute(hid_t object, const std::string& name);
// How many values the attribute holds (-1 when its dataspace is unreadable). H5Aread writes every
// value, so an attribute read into room for one must hold exactly one.
int64_t valueCount(hid_t attribute);
// Required attributes: missing or of the wrong type -> InputError naming file and attribute.
std::string readStringAttribute(hid_t object, const std::string& file_label,
                                const std::string& name);
int64_t readIntAttribute(hid_t object, const std::string& file_label, const std::string& name);

}  // namespace agreid::data::h5
