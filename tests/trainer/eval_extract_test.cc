// `agreid extract`: 2 MPI ranks == 1 rank, rows in dataset order (checked against single-image
// forward passes), and bad inputs (one-line error, exit code 2, no output file).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <csignal>
#include <filesystem>

#include "data/dataset.h"
#include "data/jpeg_codec.h"
#include "data/transforms.h"
#include "tests/support/test_support.h"
#include "trainer/eval/features_file.h"
#include "trainer/model/clip_checkpoint.h"
#include "trainer/model/clip_model.h"

namespace agreid::trainer {
namespace {

struct ExtractFixture {
  testing::TempDir tmp;
  std::string weights = tmp.file("clip.pt"), dataset = tmp.file("data.h5");

  ExtractFixture() {
    torch::manual_seed(3);
    ClipArchOptions o;
    o.embed_dim = 16;
    o.image_height = 32;
    o.image_width = 16;
    o.patch_size = 8;
    o.vision_width = 32;
    o.vision_layers = 1;
    o.vision_heads = 2;
    o.text_width = 32;
    o.text_layers = 1;
    o.text_heads = 2;
    saveClip(ClipModel(ClipArch::fromOptions(o)), weights);
    data::DatasetWriter writer(dataset, {"extract-test", "generated", {}, {}, 1 << 16});
    for (int i = 0; i < 13; ++i) {
      data::RgbImage img{40, 20, std::vector<uint8_t>(40 * 20 * 3)};
      for (size_t p = 0; p < img.pixels.size(); ++p) img.pixels[p] = (p * (i + 3) * 37) % 251;
      data::SampleRecord r;
      r.jpeg = data::encodeJpeg(img);
      r.pid = 10 + i / 3;
      r.camid = i % 2;
      r.split = i % 4 == 0 ? data::Split::kQuery : data::Split::kGallery;
      r.occluded = i % 3 == 0;
      r.path = "img" + std::to_string(i) + ".jpg";
      writer.add(r);
    }
    writer.finish();
  }
  std::vector<std::string> args(const std::string& out, const std::string& split) const {
    return {"extract", "--weights", weights, "--data",       dataset, "--split",
            split,     "--out",     out,     "--batch-size", "3"};
  }
};

TEST(ExtractCommand, TwoRanksEqualOneRankInDatasetOrder) {
  ExtractFixture f;
  const auto one = testing::runAgreid(f.args(f.tmp.file("one.h5"), "gallery"));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  std::string cmd = "mpiexec -n 2 --oversubscribe " + testing::shellQuote(AGREID_BINARY);
  for (const auto& a : f.args(f.tmp.file("two.h5"), "gallery")) cmd += " " + testing::shellQuote(a);
  const auto two = testing::runShell(cmd);
  ASSERT_EQ(two.exit_code, 0) << two.err;
  const FeatureSet a = readFeaturesFile(f.tmp.file("one.h5"));
  const FeatureSet b = readFeaturesFile(f.tmp.file("two.h5"));
  const data::DatasetReader reader(f.dataset);
  EXPECT_EQ(a.index, reader.indicesOf(data::Split::kGallery));
  EXPECT_EQ(b.index, a.index);
  EXPECT_EQ(b.pid, a.pid);
  EXPECT_EQ(b.camid, a.camid);
  EXPECT_EQ(b.occluded, a.occluded);
  ASSERT_EQ(a.features.sizes(), b.features.sizes());
  EXPECT_TRUE(at::allclose(a.features, b.features, 1e-5, 1e-6));
  EXPECT_EQ(a.info.kind, "clip");
  EXPECT_EQ(a.info.split, "gallery");
  EXPECT_EQ(a.info.dataset_checksum, reader.info().checksum);

  // Row k is the feature of sample index[k], computed alone.
  const auto clip = loadClip(f.weights);
  clip->eval();
  torch::NoGradGuard no_grad;
  data::TransformOptions t;
  t.height = 32;
  t.width = 16;
  const data::ImageTransform transform(t, data::TransformMode::kTest);
  for (int64_t k = 0; k < a.size(); ++k) {
    const int64_t i = a.index[k];
    EXPECT_EQ(a.pid[k], reader.samples().pid[i]);
    const auto jpeg = reader.readJpeg(i);
    const at::Tensor image = transform(data::decodeJpeg(jpeg.data(), jpeg.size(), "test"), {});
    const at::Tensor feature = clip->visual->forward(image.unsqueeze(0)).f_proj[0];
    EXPECT_TRUE(at::allclose(a.features[k], feature, 1e-4, 1e-5)) << "row " << k;
  }
}

TEST(ExtractCommand, BadInputs) {
  ExtractFixture f;
  const std::string out = f.tmp.file("out.h5");
  auto expectRefused = [&](std::vector<std::string> args, const std::string& part) {
    const auto r = testing::runAgreid(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(testing::lineCount(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(part), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(out));
  };
  expectRefused(f.args(out, "bogus"), "--split must be query, gallery, train or all");
  auto missing = f.args(out, "query");
  missing[2] = f.tmp.file("absent.pt");
  expectRefused(missing, "absent.pt");
  auto no_data = f.args(out, "query");
  no_data[4] = f.tmp.file("absent.h5");
  expectRefused(no_data, "absent.h5");
}

TEST(ExtractCommand, SigtermStopsWithoutAFeaturesFile) {
  ExtractFixture f;
  const std::string out = f.tmp.file("out.h5");
  const auto r = testing::runAgreidWithPendingSignal(f.args(out, "all"), SIGTERM);
  EXPECT_EQ(r.exit_code, 143) << r.err;
  EXPECT_EQ(testing::lineCount(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("agreid extract: stopped by SIGTERM"), std::string::npos) << r.err;
  for (const auto& e : std::filesystem::directory_iterator(f.tmp.path())) {
    EXPECT_EQ(e.path().filename().string().find("out.h5"), std::string::npos) << e.path();
  }
}

}  // namespace
}  // namespace agreid::trainer
