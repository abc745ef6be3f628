// CLIP towers against an independent PyTorch reference (tests/trainer/reference/make_tiny_clip.py):
// fp32 and fp16 TorchScript archives, the re-ID vision mode (stride, resized grid, SIE), the
// checkpoint round trip, bad checkpoints, and the ViT-B/16 parameter counts.
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "base/error.h"
#include "tests/support/test_support.h"
#include "trainer/model/clip_checkpoint.h"
#include "trainer/model/clip_model.h"

namespace agreid::trainer {
namespace {

using agreid::testing::inputErrorOf;
using agreid::testing::TempDir;

// Max |a - b| / max|b|: "within 1e-5 relative" for a whole feature tensor.
double relError(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

class TinyClip : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!agreid::testing::havePythonTorch()) return;
    dir_ = std::make_unique<TempDir>();
    const auto r = agreid::testing::runPythonScript("tests/trainer/reference/make_tiny_clip.py",
                                                    {dir_->path().string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto ref = torch::jit::load(dir_->file("reference.pt"));
    for (const auto& b : ref.named_buffers()) refs_[b.name] = b.value;
  }
  static void TearDownTestSuite() { dir_.reset(); }

  void SetUp() override {
    if (!dir_) GTEST_SKIP() << "Debian's python3 (" << AGREID_PYTHON << ") lacks torch; skipping";
  }
  static const at::Tensor& ref(const std::string& name) {
    const auto it = refs_.find(name);
    if (it == refs_.end()) throw std::runtime_error("no reference tensor " + name);
    return it->second;
  }
  static std::string file(const std::string& name) { return dir_->file(name); }

  static void expectMatches(const ClipModel& model, const std::string& prefix) {
    torch::NoGradGuard no_grad;
    const auto v = model.visual->forward(ref(prefix + "_images"));
    EXPECT_LT(relError(v.f_last, ref(prefix + "_f_last")), 1e-5);
    EXPECT_LT(relError(v.f, ref(prefix + "_f")), 1e-5);
    EXPECT_LT(relError(v.f_proj, ref(prefix + "_f_proj")), 1e-5);
    const auto ids = ref(prefix + "_ids");
    const auto t = model.text->forward(ids);
    EXPECT_LT(relError(t, ref(prefix + "_text")), 1e-5);
    // The embedding path with explicit EOT indices gives the same features.
    const auto te = model.text->forwardEmbeddings(model.text->embed(ids), ids.argmax(-1));
    EXPECT_LT(relError(te, ref(prefix + "_text")), 1e-6);
  }

  static std::unique_ptr<TempDir> dir_;
  static std::map<std::string, at::Tensor> refs_;
};

std::unique_ptr<TempDir> TinyClip::dir_;
std::map<std::string, at::Tensor> TinyClip::refs_;

TEST_F(TinyClip, Fp32RectangularArchiveMatchesReference) {
  const auto model = loadClip(file("tiny_rect.pt"));
  const auto& a = model->arch();
  EXPECT_EQ(a.vision_width, 64);
  EXPECT_EQ(a.vision_layers, 3);
  EXPECT_EQ(a.vision_heads, 2);
  EXPECT_EQ(a.patch_size, 8);
  EXPECT_EQ(a.grid_h, 8);
  EXPECT_EQ(a.grid_w, 4);
  EXPECT_EQ(a.embed_dim, 48);
  EXPECT_EQ(a.text_layers, 2);
  EXPECT_EQ(a.text_heads, 2);
  EXPECT_EQ(a.context_length, 77);
  EXPECT_EQ(a.vocab_size, 49408);
  expectMatches(*model, "rect");
}

TEST_F(TinyClip, Fp16OpenAiLayoutArchiveMatchesReference) {
  const auto model = loadClip(file("tiny_square_fp16.pt"));
  EXPECT_EQ(model->arch().grid_h, 4);
  EXPECT_EQ(model->arch().grid_w, 4);
  EXPECT_EQ(model->arch().vision_heads, 1);  // width / 64
  EXPECT_EQ(model->arch().embed_dim, 32);
  EXPECT_EQ(model->visual->proj.scalar_type(), torch::kFloat);
  expectMatches(*model, "square");
  const std::string d = describeCheckpoint(file("tiny_square_fp16.pt"));
  EXPECT_NE(d.find("stored as Half"), std::string::npos) << d;
}

TEST_F(TinyClip, ReidVisionModeMatchesReference) {
  const auto clip = loadClip(file("tiny_rect.pt"));
  VisionConfig c = clip->visual->config();
  c.stride = 4;
  c.grid_h = gridSize(70, c.patch_size, c.stride);
  c.grid_w = gridSize(36, c.patch_size, c.stride);
  EXPECT_EQ(c.grid_h, ref("reid_grid")[0].item<int64_t>());
  EXPECT_EQ(c.grid_w, ref("reid_grid")[1].item<int64_t>());
  c.num_cameras = 3;
  c.sie_coe = ref("reid_sie_coe").item<double>();
  VisionTransformer reid(c);
  reid.copyPretrained(*clip->visual);
  torch::NoGradGuard no_grad;
  EXPECT_LT(relError(reid.positional_embedding, ref("reid_pos")), 1e-6);
  reid.cv_embed.copy_(ref("reid_cv_embed"));
  const auto v = reid.forward(ref("reid_images"), ref("reid_cams"));
  EXPECT_LT(relError(v.f_last, ref("reid_f_last")), 1e-5);
  EXPECT_LT(relError(v.f, ref("reid_f")), 1e-5);
  EXPECT_LT(relError(v.f_proj, ref("reid_f_proj")), 1e-5);
  // A wrong image size is an input error naming both grids.
  const std::string msg = inputErrorOf([&] {
    reid.forward(torch::zeros({1, 3, 64, 36}), ref("reid_cams").narrow(0, 0, 1));
  });
  EXPECT_NE(msg.find("15x8 token grid, the model expects 16x8"), std::string::npos) << msg;
}

TEST_F(TinyClip, SavedCheckpointRoundTrips) {
  const auto model = loadClip(file("tiny_rect.pt"));
  TempDir out;
  const std::string path = out.file("clip.pt");
  saveClip(*model, path);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(out.path()),
                          std::filesystem::directory_iterator()),
            1);  // no temporary file left
  const auto again = loadClip(path);
  EXPECT_EQ(again->arch().summary(), model->arch().summary());
  const auto a = model->openaiNamedParameters();
  const auto b = again->openaiNamedParameters();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
  expectMatches(*again, "rect");
}

TEST_F(TinyClip, BrokenCheckpointsAreInputErrors) {
  TempDir out;
  const auto tensors = readCheckpointTensors(file("tiny_rect.pt"));

  auto missing = tensors;
  missing.erase("visual.transformer.resblocks.1.ln_2.bias");
  writeTensorArchive(missing, out.file("missing.pt"));
  std::string msg = inputErrorOf([&] { loadClip(out.file("missing.pt")); });
  EXPECT_NE(msg.find(out.file("missing.pt")), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing tensor 'visual.transformer.resblocks.1.ln_2.bias'"),
            std::string::npos)
      << msg;

  auto extra = tensors;
  extra["visual.extra_head.weight"] = torch::zeros({2, 2});
  extra["zz_unknown"] = torch::zeros({3});
  writeTensorArchive(extra, out.file("extra.pt"));
  msg = inputErrorOf([&] { loadClip(out.file("extra.pt")); });
  EXPECT_NE(msg.find("unexpected tensors: visual.extra_head.weight, zz_unknown"), std::string::npos)
      << msg;

  auto wrong = tensors;
  wrong["transformer.resblocks.0.mlp.c_fc.weight"] = torch::zeros({10, 64});
  writeTensorArchive(wrong, out.file("wrong.pt"));
  msg = inputErrorOf([&] { loadClip(out.file("wrong.pt")); });
  EXPECT_NE(msg.find("tensor 'transformer.resblocks.0.mlp.c_fc.weight' has shape [10, 64], "
                     "expected [256, 64]"),
            std::string::npos)
      << msg;

  agreid::testing::writeFile(out.file("text.pt"), "not a checkpoint\n");
  msg = inputErrorOf([&] { loadClip(out.file("text.pt")); });
  EXPECT_NE(msg.find("'" + out.file("text.pt") + "': not a TorchScript archive"), std::string::npos)
      << msg;
  msg = inputErrorOf([&] { loadClip(out.file("absent.pt")); });
  EXPECT_NE(msg.find("no such file"), std::string::npos) << msg;
}

TEST(ClipModel, VitB16ParameterCounts) {
  const ClipArch a = ClipArch::vitB16();
  ClipModel model(a);
  // Independent count from the published layout.
  const int64_t w = 768, tw = 512, L = 12;
  const int64_t block = [](int64_t d) {
    return (3 * d * d + 3 * d) + (d * d + d) + 4 * d + (4 * d * d + 4 * d) + (4 * d * d + d);
  }(w);
  const int64_t vision = 3 * w * 16 * 16 + w + 197 * w + 2 * w + L * block + 2 * w + w * 512;
  const int64_t tblock = (3 * tw * tw + 3 * tw) + (tw * tw + tw) + 4 * tw + (4 * tw * tw + 4 * tw) +
                         (4 * tw * tw + tw);
  const int64_t text = 49408 * tw + 77 * tw + L * tblock + 2 * tw + tw * 512;
  EXPECT_EQ(vision, 86192640);
  EXPECT_EQ(countParameters(*model.visual), vision);
  EXPECT_EQ(countParameters(*model.text), text);
  EXPECT_EQ(countParameters(model), vision + text + 1);
  const std::string d = describeClip(model);
  EXPECT_NE(d.find("vision 86192640, text 63428096, total 149620737"), std::string::npos) << d;
  EXPECT_NE(d.find("grid 14x14 (224x224 input)"), std::string::npos) << d;
}

}  // namespace
}  // namespace agreid::trainer
