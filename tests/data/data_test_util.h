// Helpers for the data tests: tiny generated JPEGs, fake dataset folder trees and checks of
// one-line InputError messages.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace agreid::testing {

// A small JPEG (height x width) filled with a gradient seeded by `seed`.
std::vector<uint8_t> tinyJpeg(int height, int width, uint8_t seed);

// Writes `bytes` to `path`, creating parent folders.
void writeBytes(const std::string& path, const std::vector<uint8_t>& bytes);
// Writes a tiny JPEG to `path` (parent folders created).
void writeJpegFile(const std::string& path, uint8_t seed = 0);

// Runs `fn`, expects agreid::InputError whose message is one line containing every `part`.
void expectOneLineInputError(const std::function<void()>& fn,
                             const std::vector<std::string>& parts);

// Names of the files in `dir` that are temporaries of base/atomic_file.h ("<name>.tmp-...") or
// the former fixed "<name>.tmp": leftovers of an interrupted or failed write.
std::vector<std::string> tempLeftovers(const std::string& dir);

// A tmpfs of `kib` KiB mounted on a fresh folder, for disk-full tests; unmounted and removed by
// the destructor. Mounting needs root (CAP_SYS_ADMIN): check available() and skip otherwise.
class SmallDisk {
 public:
  explicit SmallDisk(int kib);
  ~SmallDisk();
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;

  bool available() const { return mounted_; }
  const std::string& unavailableReason() const { return reason_; }
  std::string file(const std::string& name) const { return dir_ + "/" + name; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::string reason_;
  bool mounted_ = false;
};

// Skips the current test when `disk` could not be mounted.
#define AGREID_REQUIRE_SMALL_DISK(disk)                                                       \
  do {                                                                                        \
    if (!(disk).available()) GTEST_SKIP() << "needs a tmpfs: " << (disk).unavailableReason(); \
  } while (0)

// Runs Debian's python3 with `script` (h5py available); returns its exit code, printing its
// output on failure.
int runPython(const std::string& script);

// True when Debian's python3 can import h5py (tests that damage files with it skip otherwise).
bool haveH5py();

}  // namespace agreid::testing
