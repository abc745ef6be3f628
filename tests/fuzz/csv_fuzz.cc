// The CSV manifest scanner of `agreid import csv`, over a root holding two images.
#include <filesystem>

#include "data/import_scan.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  static const std::string root = [] {
    const std::string r = agreid::fuzz::scratchDir() + "/root";
    fs::create_directories(r + "/cam1");
    const uint8_t jpeg[] = {0xff, 0xd8, 0xff, 0xd9};
    agreid::fuzz::writeInput(jpeg, sizeof jpeg, "root/0001_c1s1_0.jpg");
    agreid::fuzz::writeInput(jpeg, sizeof jpeg, "root/cam1/0002_c2s1_0.jpg");
    return r;
  }();
  const std::string manifest = agreid::fuzz::writeInput(data, size, "manifest.csv");
  return agreid::fuzz::refuseOnlyWithInputError(
      [&] { (void)agreid::data::scanCsv(root, manifest); });
}
