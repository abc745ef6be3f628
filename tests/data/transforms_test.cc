// ImageTransform: resize against torch.nn.functional.interpolate (independent reference, run in
// Debian's python3), normalisation, determinism, and the flip / pad+crop / erasing properties.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <set>

#include "base/error.h"
#include "data/counter_rng.h"
#include "data/transforms.h"
#include "tests/support/test_support.h"

namespace agreid::data {
namespace {

RgbImage randomImage(int h, int w, uint64_t seed) {
  RgbImage img;
  img.height = h;
  img.width = w;
  img.pixels.resize(static_cast<size_t>(h) * w * 3);
  CounterRng rng(seed);
  // Smooth-ish content plus noise so that resampling errors would show.
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        img.pixels[(static_cast<size_t>(y) * w + x) * 3 + c] =
            static_cast<uint8_t>((x * 7 + y * 3 + c * 50 + rng.below(60)) % 256);
  return img;
}

TransformOptions opts(int64_t h, int64_t w) {
  TransformOptions o;
  o.height = h;
  o.width = w;
  return o;
}

TEST(TransformsTest, TestModeSameSizeIsExactNormalisation) {
  const RgbImage img = randomImage(16, 8, 1);
  TransformOptions o = opts(16, 8);
  o.mean = {0.485, 0.456, 0.406};
  o.std = {0.229, 0.224, 0.225};
  ImageTransform t(o, TransformMode::kTest);
  const at::Tensor out = t(img, {});
  auto a = out.accessor<float, 3>();
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 16; ++y)
      for (int x = 0; x < 8; ++x) {
        const double v = img.pixels[(y * 8 + x) * 3 + c] / 255.0;
        EXPECT_NEAR(a[c][y][x], (v - o.mean[c]) / o.std[c], 1e-5);
      }
}

// Resizes with agreid and with torch (antialias=True, PIL semantics) and compares. All cases run
// in one python process (importing torch dominates the cost).
struct ResizeCase {
  ResizeFilter filter;
  int in_h, in_w, out_h, out_w;
};

TEST(TransformsTest, ResizeMatchesTorchInterpolate) {
  if (!testing::havePythonTorch()) GTEST_SKIP() << "Debian python3 with torch not available";
  const std::vector<ResizeCase> cases = {{ResizeFilter::kBilinear, 64, 32, 256, 128},
                                         {ResizeFilter::kBilinear, 300, 140, 256, 128},
                                         {ResizeFilter::kBicubic, 64, 32, 256, 128},
                                         {ResizeFilter::kBicubic, 331, 97, 256, 128},
                                         {ResizeFilter::kBicubic, 128, 64, 256, 128}};
  testing::TempDir dir;
  std::string args;
  std::vector<RgbImage> images;
  for (size_t i = 0; i < cases.size(); ++i) {
    const ResizeCase& c = cases[i];
    images.push_back(randomImage(c.in_h, c.in_w, c.in_h * 31 + c.in_w));
    std::ofstream f(dir.file("in" + std::to_string(i)), std::ios::binary);
    f.write(reinterpret_cast<const char*>(images.back().pixels.data()),
            images.back().pixels.size());
    args += " " + dir.file("in" + std::to_string(i)) + " " + dir.file("out" + std::to_string(i)) +
            (c.filter == ResizeFilter::kBicubic ? " bicubic " : " bilinear ") +
            std::to_string(c.in_h) + " " + std::to_string(c.in_w) + " " + std::to_string(c.out_h) +
            " " + std::to_string(c.out_w);
  }
  testing::writeFile(
      dir.file("ref.py"),
      "import numpy as np, torch, torch.nn.functional as F, sys\n"
      "a = sys.argv[1:]\n"
      "for i in range(0, len(a), 7):\n"
      "    src, dst, mode, ih, iw, oh, ow = a[i:i + 7]\n"
      "    x = np.fromfile(src, dtype=np.uint8).reshape(int(ih), int(iw), 3)\n"
      "    t = torch.from_numpy(x.astype(np.float32)).permute(2, 0, 1)[None]\n"
      "    y = F.interpolate(t, size=(int(oh), int(ow)), mode=mode, align_corners=False,\n"
      "                      antialias=True)\n"
      "    y[0].permute(1, 2, 0).contiguous().numpy().astype(np.float32).tofile(dst)\n");
  const auto r = testing::runShell(std::string(AGREID_PYTHON) + " " + dir.file("ref.py") + args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (size_t i = 0; i < cases.size(); ++i) {
    const ResizeCase& c = cases[i];
    const std::string ref_bytes = testing::readFile(dir.file("out" + std::to_string(i)));
    std::vector<float> ref(static_cast<size_t>(c.out_h) * c.out_w * 3);
    ASSERT_EQ(ref_bytes.size(), ref.size() * sizeof(float));
    std::memcpy(ref.data(), ref_bytes.data(), ref_bytes.size());
    std::vector<float> mine(ref.size());
    resizeImage(images[i], c.out_h, c.out_w, c.filter, mine.data());
    double max_err = 0;
    for (size_t j = 0; j < ref.size(); ++j)
      max_err = std::max(max_err, static_cast<double>(std::fabs(ref[j] - mine[j])));
    EXPECT_LT(max_err, 0.02) << "case " << i << ": " << c.in_h << "x" << c.in_w << " -> " << c.out_h
                             << "x" << c.out_w;
  }
}

TEST(TransformsTest, TrainModeIsDeterministicPerKey) {
  const RgbImage img = randomImage(64, 32, 3);
  ImageTransform t(opts(32, 16), TransformMode::kTrain);
  const SampleKey key{7, 2, 11};
  EXPECT_TRUE(at::equal(t(img, key), t(img, key)));
  int differing = 0;
  for (int64_t i = 0; i < 8; ++i) differing += !at::equal(t(img, key), t(img, {7, 2, 100 + i}));
  EXPECT_GE(differing, 6);
  EXPECT_FALSE(at::equal(t(img, key), t(img, {7, 3, 11})));
  EXPECT_FALSE(at::equal(t(img, key), t(img, {8, 2, 11})));
}

TEST(TransformsTest, FlipMirrorsTheResizedImage) {
  const RgbImage img = randomImage(40, 20, 4);
  TransformOptions o = opts(48, 24);
  o.pad = 0;
  o.erasing_prob = 0;
  o.flip_prob = 0;
  const at::Tensor plain = ImageTransform(o, TransformMode::kTrain)(img, {1, 0, 0});
  o.flip_prob = 1;
  const at::Tensor flipped = ImageTransform(o, TransformMode::kTrain)(img, {1, 0, 0});
  EXPECT_TRUE(at::allclose(flipped, plain.flip({2})));
}

TEST(TransformsTest, PadAndCropShiftsWithZeroBorder) {
  const RgbImage img = randomImage(32, 16, 5);
  TransformOptions o = opts(32, 16);
  o.flip_prob = 0;
  o.erasing_prob = 0;
  o.pad = 0;
  const at::Tensor base = ImageTransform(o, TransformMode::kTrain)(img, {});
  o.pad = 4;
  ImageTransform t(o, TransformMode::kTrain);
  const float zero = static_cast<float>(-o.mean[0] / o.std[0]);  // a zero pixel, normalised
  std::set<std::pair<int64_t, int64_t>> offsets;
  for (int64_t i = 0; i < 64; ++i) {
    at::Tensor out = at::empty({3, 32, 16});
    const AugmentParams p = t.apply(img, {3, 0, i}, out.data_ptr<float>());
    ASSERT_GE(p.crop_top, 0);
    ASSERT_LE(p.crop_top, 8);
    ASSERT_GE(p.crop_left, 0);
    ASSERT_LE(p.crop_left, 8);
    offsets.insert({p.crop_top, p.crop_left});
    const int64_t dy = p.crop_top - 4, dx = p.crop_left - 4;
    auto a = out.accessor<float, 3>();
    auto b = base.accessor<float, 3>();
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 16; ++x) {
          const int64_t sy = y + dy, sx = x + dx;
          const bool inside = sy >= 0 && sy < 32 && sx >= 0 && sx < 16;
          ASSERT_FLOAT_EQ(a[c][y][x], inside ? b[c][sy][sx] : zero);
        }
  }
  EXPECT_GT(offsets.size(), 20u);
}

TEST(TransformsTest, RandomErasingFillsOneRectangleWithNoise) {
  const RgbImage img = randomImage(128, 64, 6);
  TransformOptions o = opts(128, 64);
  o.erasing_prob = 0;
  ImageTransform clean(o, TransformMode::kTrain);
  o.erasing_prob = 1;
  ImageTransform erasing(o, TransformMode::kTrain);
  double sum = 0, sum2 = 0;
  int64_t n = 0;
  for (int64_t i = 0; i < 20; ++i) {
    at::Tensor a = at::empty({3, 128, 64}), b = at::empty({3, 128, 64});
    const AugmentParams pa = clean.apply(img, {9, 1, i}, a.data_ptr<float>());
    const AugmentParams pb = erasing.apply(img, {9, 1, i}, b.data_ptr<float>());
    EXPECT_FALSE(pa.erased);
    ASSERT_TRUE(pb.erased);
    EXPECT_EQ(pa.crop_top, pb.crop_top);
    EXPECT_EQ(pa.flipped, pb.flipped);
    const double area = double(pb.erase_height * pb.erase_width) / (128 * 64);
    EXPECT_GE(area, 0.015);
    EXPECT_LE(area, 0.34);
    EXPECT_LE(pb.erase_top + pb.erase_height, 128);
    EXPECT_LE(pb.erase_left + pb.erase_width, 64);
    at::Tensor mask = at::zeros({3, 128, 64}, at::kBool);
    mask.narrow(1, pb.erase_top, pb.erase_height)
        .narrow(2, pb.erase_left, pb.erase_width)
        .fill_(true);
    EXPECT_TRUE(at::equal(a.masked_select(~mask), b.masked_select(~mask)));
    const at::Tensor noise = b.masked_select(mask).to(at::kDouble);
    sum += noise.sum().item<double>();
    sum2 += noise.pow(2).sum().item<double>();
    n += noise.numel();
  }
  const double mean = sum / n, var = sum2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.02);
  EXPECT_NEAR(var, 1.0, 0.03);
}

TEST(TransformsTest, FlipProbabilityIsRespected) {
  const RgbImage img = randomImage(16, 8, 7);
  ImageTransform t(opts(16, 8), TransformMode::kTrain);
  int flips = 0;
  std::vector<float> out(3 * 16 * 8);
  for (int64_t i = 0; i < 2000; ++i) flips += t.apply(img, {1, 0, i}, out.data()).flipped;
  EXPECT_NEAR(flips / 2000.0, 0.5, 0.05);
}

TEST(TransformsTest, RejectsBadNormalisation) {
  TransformOptions o = opts(16, 8);
  o.mean = {0.5, 0.5};
  EXPECT_THROW(ImageTransform(o, TransformMode::kTest), InputError);
  o = opts(16, 8);
  o.std = {0.5, 0.0, 0.5};
  EXPECT_THROW(ImageTransform(o, TransformMode::kTest), InputError);
}

}  // namespace
}  // namespace agreid::data
