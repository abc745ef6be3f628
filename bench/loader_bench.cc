// Data loader benchmark (docs/benchmarks.md, "Data loader"); bench/loader_bench.sh drives it.
//
//   loader_bench prepare --out DIR [--identities N]
//       renders the synthetic world at 128x64 and writes it as a Market-1501 folder
//       (DIR/market/bounding_box_train/0001_c1s1_000001_00.jpg, query/, bounding_box_test/).
//   loader_bench run --dataset FILE.h5 [--epochs E] [--workers W] [--batch B]
//       over the train split: decode-only throughput of the same JPEGs (libjpeg-turbo, 1 and W
//       threads, bytes already in memory: the ceiling) and the agreid Loader (P x K batches, train
//       transforms at 256x128, W workers). Prints "name images/s" lines.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "data/dataset.h"
#include "data/jpeg_codec.h"
#include "data/loader.h"
#include "data/samplers.h"
#include "data/synth_generator.h"
#include "data/transforms.h"

namespace {

using namespace agreid::data;
using Clock = std::chrono::steady_clock;

std::string arg(const std::vector<std::string>& a, const std::string& name,
                const std::string& def) {
  for (size_t i = 0; i + 1 < a.size(); ++i)
    if (a[i] == name) return a[i + 1];
  return def;
}

double seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int prepare(const std::vector<std::string>& a) {
  const std::string out = arg(a, "--out", "");
  if (out.empty()) throw agreid::InputError("loader_bench prepare: --out DIR is required");
  SynthOptions o;
  o.height = 128;
  o.width = 64;
  o.identities = std::stoll(arg(a, "--identities", "400"));
  o.images_per_identity = 16;
  const auto records = renderReidSamples(o);
  namespace fs = std::filesystem;
  for (const auto& r : records) {
    const fs::path p = fs::path(out) / "market" / r.path;
    fs::create_directories(p.parent_path());
    std::ofstream f(p, std::ios::binary);
    f.write(reinterpret_cast<const char*>(r.jpeg.data()),
            static_cast<std::streamsize>(r.jpeg.size()));
  }
  std::printf("wrote %zu JPEGs (128x64) to %s/market\n", records.size(), out.c_str());
  return 0;
}

int run(const std::vector<std::string>& a) {
  const std::string path = arg(a, "--dataset", "");
  const int64_t epochs = std::stoll(arg(a, "--epochs", "3"));
  const int64_t workers = std::stoll(arg(a, "--workers", "2"));
  const int64_t batch = std::stoll(arg(a, "--batch", "64"));
  DatasetReader reader(path);
  const auto train = reader.indicesOf(Split::kTrain);
  std::vector<int64_t> labels;
  for (int64_t i : train) labels.push_back(reader.samples().label[i]);

  // Decode-only ceiling: all bytes in memory, decode with 1 and `workers` threads.
  std::vector<std::vector<uint8_t>> jpegs;
  for (int64_t i : train) jpegs.push_back(reader.readJpeg(i));
  for (int64_t threads : {int64_t{1}, workers}) {
    double best = 0;
    for (int64_t e = 0; e < epochs; ++e) {
      std::atomic<size_t> next{0};
      const auto t0 = Clock::now();
      std::vector<std::thread> pool;
      for (int64_t t = 0; t < threads; ++t)
        pool.emplace_back([&] {
          for (size_t i = next++; i < jpegs.size(); i = next++)
            decodeJpeg(jpegs[i].data(), jpegs[i].size(), "bench");
        });
      for (auto& t : pool) t.join();
      best = std::max(best, jpegs.size() / seconds(t0));
    }
    std::printf("decode_only_%lldthreads %.1f\n", static_cast<long long>(threads), best);
  }

  // Decode + train transform on one thread, no loader: the work per image.
  {
    TransformOptions to;
    to.height = 256;
    to.width = 128;
    const ImageTransform transform(to, TransformMode::kTrain);
    std::vector<float> out(3 * 256 * 128);
    double best = 0;
    for (int64_t e = 0; e < epochs; ++e) {
      const auto t0 = Clock::now();
      for (size_t i = 0; i < jpegs.size(); ++i) {
        const RgbImage img = decodeJpeg(jpegs[i].data(), jpegs[i].size(), "bench");
        transform.apply(img, SampleKey{1, e, static_cast<int64_t>(i)}, out.data());
      }
      best = std::max(best, jpegs.size() / seconds(t0));
    }
    std::printf("decode_transform_1thread %.1f\n", best);
  }

  SamplerOptions so;
  so.instances_per_identity = 4;
  so.identities_per_batch = batch / 4;
  IdentitySampler sampler(train, labels, so, 1);
  LoaderOptions lo;
  lo.num_workers = workers;
  lo.prefetch_batches = 4;
  double best = 0;
  for (int64_t e = 0; e < epochs; ++e) {
    LoaderPlan plan;
    plan.batches = sampler.epochBatches(e);
    plan.mode = TransformMode::kTrain;
    plan.transform.height = 256;
    plan.transform.width = 128;
    plan.seed = 1;
    plan.epoch = e;
    const auto t0 = Clock::now();
    Loader loader(path, plan, lo);
    int64_t images = 0;
    while (auto b = loader.next()) images += b->images.size(0);
    best = std::max(best, images / seconds(t0));
  }
  std::printf("agreid_loader %.1f\n", best);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> a(argv + 1, argv + argc);
  try {
    if (!a.empty() && a[0] == "prepare") return prepare(a);
    if (!a.empty() && a[0] == "run") return run(a);
    std::cerr << "usage: loader_bench prepare --out DIR | run --dataset FILE.h5\n";
    return 2;
  } catch (const agreid::InputError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
}
