#include "tests/data/data_test_util.h"

#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "base/error.h"
#include "data/jpeg_codec.h"
#include "tests/support/test_support.h"

namespace agreid::testing {

std::vector<uint8_t> tinyJpeg(int height, int width, uint8_t seed) {
  data::RgbImage img;
  img.height = height;
  img.width = width;
  img.pixels.resize(static_cast<size_t>(height) * width * 3);
  for (size_t i = 0; i < img.pixels.size(); ++i) {
    img.pixels[i] = static_cast<uint8_t>(seed + 7 * i);
  }
  return data::encodeJpeg(img, 90);
}

void writeBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void writeJpegFile(const std::string& path, uint8_t seed) {
  writeBytes(path, tinyJpeg(16, 8, seed));
}

void expectOneLineInputError(const std::function<void()>& fn,
                             const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected an InputError containing '" << (parts.empty() ? "" : parts[0])
                  << "'";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << "not one line: " << what;
    for (const auto& p : parts)
      EXPECT_NE(what.find(p), std::string::npos) << "'" << p << "' not in: " << what;
  }
}

std::vector<std::string> tempLeftovers(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.find(".tmp") != std::string::npos) found.push_back(name);
  }
  return found;
}

SmallDisk::SmallDisk(int kib) {
  std::random_device rd;
  dir_ =
      (std::filesystem::temp_directory_path() / ("agreid-disk-" + std::to_string(rd()))).string();
  std::filesystem::create_directories(dir_);
  const std::string options = "size=" + std::to_string(kib) + "k";
  if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, options.c_str()) == 0) {
    mounted_ = true;
  } else {
    reason_ = std::string("mount -t tmpfs failed: ") + std::strerror(errno);
  }
}

SmallDisk::~SmallDisk() {
  if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

int runPython(const std::string& script) {
  TempDir dir;
  const std::string file = dir.file("script.py");
  writeFile(file, script);
  const CommandResult r = runShell(shellQuote(AGREID_PYTHON) + " " + shellQuote(file));
  if (r.exit_code != 0) ADD_FAILURE() << "python failed:\n" << r.out << r.err;
  return r.exit_code;
}

bool haveH5py() { return runShell(shellQuote(AGREID_PYTHON) + " -c 'import h5py'").exit_code == 0; }

}  // namespace agreid::testing
