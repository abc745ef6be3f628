// Loader: batches equal the transform applied directly to each decoded sample (any number of
// workers, any prefetch depth), mid-epoch resume, a corrupt JPEG surfacing as a one-line
// InputError from next(), and clean shutdown when destroyed mid-epoch.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "base/error.h"
#include "data/counter_rng.h"
#include "data/dataset.h"
#include "data/jpeg_codec.h"
#include "data/loader.h"
#include "tests/support/test_support.h"

namespace agreid::data {
namespace {

RgbImage image(int h, int w, uint64_t seed) {
  RgbImage img;
  img.height = h;
  img.width = w;
  img.pixels.resize(static_cast<size_t>(h) * w * 3);
  CounterRng rng(seed);
  for (auto& p : img.pixels) p = static_cast<uint8_t>(rng.below(256));
  return img;
}

// A dataset of n samples (sizes vary); sample `corrupt` (if >= 0) holds bytes that are no JPEG.
std::string writeDataset(const testing::TempDir& dir, int n, int corrupt = -1) {
  const std::string path = dir.file("set.h5");
  WriterOptions wo;
  wo.name = "loader-test";
  DatasetWriter writer(path, wo);
  for (int i = 0; i < n; ++i) {
    SampleRecord r;
    r.jpeg = i == corrupt ? std::vector<uint8_t>(300, 0x5A)
                          : encodeJpeg(image(24 + i % 3 * 8, 12 + i % 2 * 4, i));
    r.pid = 100 + i / 4;
    r.camid = static_cast<int16_t>(i % 3);
    r.split = Split::kTrain;
    r.label = i / 4;
    r.occluded = i % 5 == 0;
    r.path = "imgs/" + std::to_string(i) + ".jpg";
    writer.add(r);
  }
  writer.finish();
  return path;
}

TransformOptions small() {
  TransformOptions o;
  o.height = 32;
  o.width = 16;
  o.pad = 2;
  return o;
}

LoaderPlan plan(std::vector<std::vector<int64_t>> batches, TransformMode mode) {
  LoaderPlan p;
  p.batches = std::move(batches);
  p.mode = mode;
  p.transform = small();
  p.seed = 5;
  p.epoch = 3;
  return p;
}

LoaderOptions workers(int64_t n, int64_t prefetch) {
  LoaderOptions o;
  o.num_workers = n;
  o.prefetch_batches = prefetch;
  return o;
}

TEST(LoaderTest, BatchesEqualTheDirectTransform) {
  testing::TempDir dir;
  const std::string path = writeDataset(dir, 30);
  DatasetReader reader(path);
  const std::vector<std::vector<int64_t>> batches = {
      {3, 4, 5, 6}, {29, 0, 17, 2, 1}, {8}, {9, 10, 11, 12, 13, 14}};
  for (TransformMode mode : {TransformMode::kTest, TransformMode::kTrain}) {
    const ImageTransform transform(small(), mode);
    for (auto [n, prefetch] : {std::pair<int64_t, int64_t>{1, 1}, {3, 2}, {2, 8}}) {
      Loader loader(path, plan(batches, mode), workers(n, prefetch));
      EXPECT_EQ(loader.size(), 4);
      for (const auto& indices : batches) {
        auto batch = loader.next();
        ASSERT_TRUE(batch.has_value());
        ASSERT_EQ(batch->images.sizes(),
                  (at::IntArrayRef{static_cast<int64_t>(indices.size()), 3, 32, 16}));
        for (size_t k = 0; k < indices.size(); ++k) {
          const int64_t i = indices[k];
          const auto bytes = reader.readJpeg(i);
          const at::Tensor expected =
              transform(decodeJpeg(bytes.data(), bytes.size(), "test"), SampleKey{5, 3, i});
          EXPECT_TRUE(at::equal(batch->images[k], expected)) << "sample " << i;
          EXPECT_EQ(batch->index[k].item<int64_t>(), i);
          EXPECT_EQ(batch->pid[k].item<int64_t>(), 100 + i / 4);
          EXPECT_EQ(batch->camid[k].item<int64_t>(), i % 3);
          EXPECT_EQ(batch->label[k].item<int64_t>(), i / 4);
          EXPECT_EQ(batch->occluded[k].item<int64_t>(), i % 5 == 0 ? 1 : 0);
        }
      }
      EXPECT_FALSE(loader.next().has_value());
      EXPECT_FALSE(loader.next().has_value());
    }
  }
}

TEST(LoaderTest, StartBatchResumesMidEpoch) {
  testing::TempDir dir;
  const std::string path = writeDataset(dir, 20);
  std::vector<std::vector<int64_t>> batches;
  for (int64_t b = 0; b < 5; ++b) batches.push_back({b * 4, b * 4 + 1, b * 4 + 2, b * 4 + 3});
  Loader full(path, plan(batches, TransformMode::kTrain), workers(2, 2));
  std::vector<at::Tensor> all;
  while (auto b = full.next()) all.push_back(b->images);
  ASSERT_EQ(all.size(), 5u);
  LoaderPlan resumed = plan(batches, TransformMode::kTrain);
  resumed.start_batch = 3;
  Loader tail(path, resumed, workers(2, 2));
  EXPECT_EQ(tail.size(), 2);
  for (size_t b = 3; b < 5; ++b) {
    auto batch = tail.next();
    ASSERT_TRUE(batch.has_value());
    EXPECT_TRUE(at::equal(batch->images, all[b]));
  }
  EXPECT_FALSE(tail.next().has_value());
}

TEST(LoaderTest, CorruptJpegSurfacesFromNextAsOneLineInputError) {
  testing::TempDir dir;
  const std::string path = writeDataset(dir, 12, /*corrupt=*/7);
  Loader loader(path, plan({{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10, 11}}, TransformMode::kTest),
                workers(2, 3));
  ASSERT_TRUE(loader.next().has_value());
  try {
    loader.next();
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("sample 7"), std::string::npos) << msg;
    EXPECT_NE(msg.find("imgs/7.jpg"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(LoaderTest, DestroyedMidEpochShutsDownCleanly) {
  testing::TempDir dir;
  const std::string path = writeDataset(dir, 40);
  std::vector<std::vector<int64_t>> batches;
  for (int64_t b = 0; b < 200; ++b) batches.push_back({b % 40, (b * 7) % 40, (b * 13) % 40});
  for (int round = 0; round < 20; ++round) {
    Loader loader(path, plan(batches, TransformMode::kTrain),
                  workers(1 + round % 3, 1 + round % 2));
    for (int k = 0; k < round % 4; ++k) ASSERT_TRUE(loader.next().has_value());
  }  // each destructor must return (a hang fails the CTest timeout)
}

TEST(LoaderTest, BadInputThrowsInputError) {
  testing::TempDir dir;
  EXPECT_THROW(Loader(dir.file("missing.h5"), plan({{0}}, TransformMode::kTest)), InputError);
  const std::string path = writeDataset(dir, 4);
  try {
    Loader loader(path, plan({{0, 4}}, TransformMode::kTest));
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("sample index 4"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace agreid::data
