// Dataset store benchmark (docs/benchmarks.md, "Dataset store"): writes a dataset of N 128x64
// JPEGs with DatasetWriter, then times opening it and reading its images with DatasetReader —
// per image in file order, per image in random order, and in runs of 64 with one hyperslab read
// (readJpegRange) — and runs bench/dataset_reference.py (h5py) on the same file and access
// patterns as the peer.
//
//   dataset_bench [--images N] [--dir DIR]
// Prints "name value unit" lines.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/jpeg_codec.h"

namespace {

using namespace agreid::data;
using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string arg(int argc, char** argv, const std::string& name, const std::string& def) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == name) return argv[i + 1];
  return def;
}

// A 128x64 image with smooth structure and some noise, so JPEG sizes resemble real crops.
std::vector<uint8_t> makeJpeg(std::mt19937& rng) {
  RgbImage img;
  img.height = 128;
  img.width = 64;
  img.pixels.resize(128 * 64 * 3);
  std::uniform_int_distribution<int> base(0, 255), noise(-12, 12);
  const int r = base(rng), g = base(rng), b = base(rng);
  for (int y = 0; y < 128; ++y)
    for (int x = 0; x < 64; ++x) {
      const int shade = (y * 2 + x) % 64;
      uint8_t* p = &img.pixels[(y * 64 + x) * 3];
      p[0] = static_cast<uint8_t>(std::clamp(r - shade + noise(rng), 0, 255));
      p[1] = static_cast<uint8_t>(std::clamp(g + shade / 2 + noise(rng), 0, 255));
      p[2] = static_cast<uint8_t>(std::clamp(b + noise(rng), 0, 255));
    }
  return encodeJpeg(img, 90);
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t n = std::stoll(arg(argc, argv, "--images", "20000"));
  const std::string dir = arg(argc, argv, "--dir", std::filesystem::temp_directory_path().string());
  const std::string path = dir + "/agreid_dataset_bench.h5";
  std::mt19937 rng(1);
  std::vector<std::vector<uint8_t>> pool;
  for (int i = 0; i < 256; ++i) pool.push_back(makeJpeg(rng));

  auto t0 = Clock::now();
  int64_t bytes = 0;
  {
    WriterOptions o;
    o.name = "bench";
    DatasetWriter writer(path, o);
    for (int64_t i = 0; i < n; ++i) {
      SampleRecord r;
      r.jpeg = pool[i % pool.size()];
      r.pid = static_cast<int32_t>(i / 16);
      r.camid = static_cast<int16_t>(i % 6);
      r.label = r.pid;
      r.path = "bounding_box_train/" + std::to_string(i) + ".jpg";
      bytes += static_cast<int64_t>(r.jpeg.size());
      writer.add(r);
    }
    writer.finish();
  }
  const double write_s = seconds(t0);
  std::printf("images %lld count\n", static_cast<long long>(n));
  std::printf("mean_jpeg_bytes %.0f bytes\n", static_cast<double>(bytes) / n);
  std::printf("agreid_write_with_checksum %.1f MB/s\n", bytes / write_s / 1e6);

  std::vector<double> opens;
  for (int rep = 0; rep < 5; ++rep) {
    t0 = Clock::now();
    DatasetReader r(path);
    opens.push_back(seconds(t0));
  }
  std::sort(opens.begin(), opens.end());
  std::printf("agreid_open_median %.1f ms\n", opens[2] * 1e3);

  DatasetReader reader(path);
  int64_t sink = 0;
  t0 = Clock::now();
  for (int64_t i = 0; i < n; ++i) sink += static_cast<int64_t>(reader.readJpeg(i).size());
  std::printf("agreid_sequential_per_image %.0f images/s\n", n / seconds(t0));

  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  t0 = Clock::now();
  for (int64_t i : order) sink += static_cast<int64_t>(reader.readJpeg(i).size());
  std::printf("agreid_random_per_image %.0f images/s\n", n / seconds(t0));

  t0 = Clock::now();
  for (int64_t b = 0; b < n; b += 64)
    sink += static_cast<int64_t>(reader.readJpegRange(b, std::min(n, b + 64)).size());
  std::printf("agreid_runs_of_64 %.0f images/s\n", n / seconds(t0));

  t0 = Clock::now();
  const std::string sum = reader.recomputeChecksum();
  std::printf("agreid_verify_checksum %.1f MB/s\n", bytes / seconds(t0) / 1e6);
  if (sum != reader.info().checksum || sink == 0) {
    std::fprintf(stderr, "checksum mismatch\n");
    return 1;
  }
  std::fflush(stdout);
  const std::string cmd =
      std::string(AGREID_PYTHON) + " " + AGREID_SOURCE_DIR + "/bench/dataset_reference.py " + path;
  const int rc = std::system(cmd.c_str());
  std::filesystem::remove(path);
  return rc == 0 ? 0 : 1;
}
