// ArrayFile: a small HDF5 container of named arrays and string attributes, used for the
// pseudo-label cache (trainer/stages/pseudo_label_cache.h). Tensors are stored contiguous, CPU,
// as float32, int32 or int64 with their shape; names may contain '/' (groups are created).
//
// ArrayFileWriter writes a unique temporary beside `path`, created exclusively
// (base/atomic_file.h); commit() flushes, closes, fsyncs and renames it to `path`, so readers never
// see a partial file. A failed write (disk full, quota) throws InputError naming `path` and the
// system's reason and removes the temporary; the writer is then unusable. Not thread-safe (HDF5 is
// not).
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

namespace agreid::trainer {

class ArrayFileWriter {
 public:
  explicit ArrayFileWriter(std::string path);
  ~ArrayFileWriter();  // removes the temporary file if commit() was not reached
  ArrayFileWriter(const ArrayFileWriter&) = delete;
  ArrayFileWriter& operator=(const ArrayFileWriter&) = delete;

  void writeTensor(const std::string& name, const at::Tensor& tensor);
  void writeAttribute(const std::string& name, const std::string& value);
  void commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class ArrayFileReader {
 public:
  // Throws InputError naming the file when it is missing or not HDF5.
  explicit ArrayFileReader(const std::string& path);
  ~ArrayFileReader();
  ArrayFileReader(const ArrayFileReader&) = delete;
  ArrayFileReader& operator=(const ArrayFileReader&) = delete;

  bool hasTensor(const std::string& name) const;
  // Throws InputError naming the file and the array when it is absent.
  at::Tensor readTensor(const std::string& name) const;
  bool hasAttribute(const std::string& name) const;
  std::string readAttribute(const std::string& name) const;
  // Names of the arrays under a group ("" for the root), sorted.
  std::vector<std::string> list(const std::string& group) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace agreid::trainer
