#include "base/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include "base/error.h"

namespace agreid {
namespace {

std::string parentOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string fileNameOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

InputError systemError(const std::string& path, const std::string& what, int err) {
  return InputError(path + ": " + what + ": " + std::strerror(err));
}

// fsync of a file or folder opened read-only. A folder on a file system without directory sync
// (EINVAL) is accepted: the rename itself has happened.
void fsyncPath(const std::string& path, const std::string& target, bool directory) {
  const int fd = ::open(path.c_str(),
                        (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) throw systemError(target, "cannot open " + path + " to sync it", errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0 && !(directory && (err == EINVAL || err == EROFS))) {
    throw systemError(target, "cannot sync " + path + " to disk", err);
  }
}

}  // namespace

std::string tempPathFor(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  std::random_device rd;
  char suffix[64];
  std::snprintf(suffix, sizeof(suffix), ".tmp-%ld-%08x%04x", static_cast<long>(::getpid()), rd(),
                counter.fetch_add(1) & 0xffffu);
  return path + suffix;
}

bool isTempNameFor(const std::string& name, const std::string& target_name) {
  const std::string prefix = target_name + ".tmp-";
  return name.compare(0, prefix.size(), prefix) == 0;
}

void removeTempFile(const std::string& tmp) noexcept {
  if (!tmp.empty()) ::unlink(tmp.c_str());
}

void commitTempFile(const std::string& tmp, const std::string& path) {
  try {
    fsyncPath(tmp, path, /*directory=*/false);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      throw systemError(path, "cannot rename the temporary " + fileNameOf(tmp) + " into place",
                        errno);
    }
  } catch (...) {
    removeTempFile(tmp);
    throw;
  }
  fsyncPath(parentOf(path), path, /*directory=*/true);
}

TempFile::TempFile(std::string target) : target_(std::move(target)) {
  tmp_ = tempPathFor(target_);
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
  if (fd_ < 0) {
    const int err = errno;
    tmp_.clear();
    throw systemError(target_, "cannot create a file in " + parentOf(target_), err);
  }
}

TempFile::~TempFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) removeTempFile(tmp_);
}

void TempFile::write(const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw systemError(target_, "cannot write", errno);
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void TempFile::commit() {
  if (::fsync(fd_) != 0) throw systemError(target_, "cannot sync to disk", errno);
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) throw systemError(target_, "cannot write", errno);
  if (::rename(tmp_.c_str(), target_.c_str()) != 0) {
    throw systemError(target_, "cannot rename the temporary " + fileNameOf(tmp_) + " into place",
                      errno);
  }
  committed_ = true;
  fsyncPath(parentOf(target_), target_, /*directory=*/true);
}

void writeFileAtomically(const std::string& path, const std::string& data) {
  TempFile file(path);
  file.write(data.data(), data.size());
  file.commit();
}

}  // namespace agreid
