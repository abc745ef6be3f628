// Atomic file writing: the one way agreid writes an output file, so that a reader never sees a
// partial file and a failure leaves nothing behind.
//
//   1. a temporary beside the target (same folder, so the rename is atomic) with a unique name
//      "<target>.tmp-<pid>-<random>", created exclusively (O_CREAT|O_EXCL|O_NOFOLLOW: an existing
//      file or a symbolic link at that name is never followed or overwritten);
//   2. the content is written, then fsync'ed;
//   3. rename onto the target, fsync of the folder.
//
// Every failure (ENOSPC, EDQUOT, EFBIG, permissions, ...) throws InputError with one line naming
// the target and the system's reason, and the temporary is removed.
//
// It lives in base/ because data/ (dataset files) and trainer/ (checkpoints, caches, results)
// both write files and data/ cannot depend on trainer/; it needs nothing but POSIX. Writers
// that create the temporary themselves (HDF5's H5Fcreate with H5F_ACC_EXCL, torch::save) take a
// name from tempPathFor() and finish with commitTempFile().
//
// Thread-compatible: distinct objects may be used from distinct threads.
#pragma once

#include <cstddef>
#include <string>

namespace agreid {

// A fresh, unused name for a temporary beside `path`: "<path>.tmp-<pid>-<random>". Nothing is
// created; a writer must create it exclusively (it may exist by chance only if another process
// guessed it, which O_EXCL then refuses).
std::string tempPathFor(const std::string& path);

// True when `name` (a file name, no folder) looks like a temporary of tempPathFor(`target`'s
// file name): used by tests and by tools that list leftovers.
bool isTempNameFor(const std::string& name, const std::string& target_name);

// fsyncs `tmp`, renames it to `path`, fsyncs the folder. On failure removes `tmp` and throws
// InputError naming `path`.
void commitTempFile(const std::string& tmp, const std::string& path);

// Removes `tmp` if it exists; never throws.
void removeTempFile(const std::string& tmp) noexcept;

// A temporary file being written. The destructor closes and removes it unless commit() ran.
class TempFile {
 public:
  // Creates the temporary for `target` exclusively. Throws InputError naming `target` (folder
  // missing or not writable).
  explicit TempFile(std::string target);
  ~TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const std::string& path() const { return tmp_; }
  const std::string& target() const { return target_; }

  // Appends bytes; throws InputError naming the target (e.g. "No space left on device").
  void write(const void* data, size_t size);
  // fsync, close, rename onto the target, fsync the folder. Throws InputError naming the target.
  void commit();

 private:
  std::string target_;
  std::string tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// Writes `data` to `path` atomically (a TempFile written and committed).
void writeFileAtomically(const std::string& path, const std::string& data);

}  // namespace agreid
