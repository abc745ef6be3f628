#include "trainer/util/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "base/error.h"

namespace agreid::trainer {
namespace fs = std::filesystem;
namespace {

void fsyncPath(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) throw InputError("cannot open " + path + " to sync it to disk");
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0 && !directory) throw InputError("cannot sync " + path + " to disk");
}

}  // namespace

std::string tempPathFor(const std::string& path) {
  std::random_device rd;
  return path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
}

void commitTempFile(const std::string& tmp, const std::string& path) {
  try {
    fsyncPath(tmp, false);
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) throw InputError("cannot rename " + tmp + " to " + path + ": " + ec.message());
    const fs::path parent = fs::path(path).parent_path();
    fsyncPath(parent.empty() ? "." : parent.string(), true);
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
}

void writeFileAtomically(const std::string& path, const std::string& data) {
  const std::string tmp = tempPathFor(path);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw InputError(path + ": cannot write (is the folder writable?)");
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    out.close();
    if (!out) {
      std::error_code ignored;
      fs::remove(tmp, ignored);
      throw InputError(path + ": write failed (disk full?)");
    }
  }
  commitTempFile(tmp, path);
}

std::string readFileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace agreid::trainer
