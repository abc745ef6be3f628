// CLIP weights in every layout (tests/trainer/reference/make_clip_layouts.py writes one tiny model
// as a TorchScript archive, torch.save state dicts, safetensors with OpenAI/open_clip names and
// Hugging Face CLIPModel folders): identical image and text features to the TorchScript path,
// safetensors dtypes, and one-line errors for truncated or inconsistent files of each layout.
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>

#include "base/error.h"
#include "tests/support/test_support.h"
#include "trainer/model/clip_checkpoint.h"
#include "trainer/model/clip_model.h"
#include "trainer/model/clip_weights.h"
#include "trainer/model/safetensors.h"
#include "trainer/model/torch_save.h"

namespace agreid::trainer {
namespace {

namespace fs = std::filesystem;
using agreid::testing::inputErrorOf;
using agreid::testing::readFile;
using agreid::testing::TempDir;
using agreid::testing::writeFile;

#define EXPECT_CONTAINS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "in: " << (text)

class ClipLayouts : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!agreid::testing::havePythonTorch()) return;
    dir_ = std::make_unique<TempDir>();
    const auto r = agreid::testing::runPythonScript("tests/trainer/reference/make_clip_layouts.py",
                                                    {dir_->path().string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() { dir_.reset(); }

  void SetUp() override {
    if (!dir_) GTEST_SKIP() << "Debian's python3 (" << AGREID_PYTHON << ") lacks torch; skipping";
  }
  static std::string file(const std::string& name) { return dir_->file(name); }

  // A copy of `name` (a file) cut to `bytes`, in a scratch folder of the test.
  std::string truncated(const std::string& name, std::uintmax_t bytes) {
    const std::string path = scratch_.file("cut_" + fs::path(name).filename().string());
    fs::copy_file(file(name), path, fs::copy_options::overwrite_existing);
    fs::resize_file(path, bytes);
    return path;
  }

  // Image and text features of `model` on fixed inputs.
  static std::vector<at::Tensor> features(const ClipModel& model) {
    torch::NoGradGuard no_grad;
    torch::manual_seed(7);
    const at::Tensor images = torch::randn({2, 3, 32, 32});
    at::Tensor ids = torch::zeros({2, 77}, torch::kLong);
    ids.index_put_({0, torch::indexing::Slice(0, 5)}, torch::tensor({998, 5, 17, 320, 999}));
    ids.index_put_({1, torch::indexing::Slice(0, 40)}, torch::randint(1, 990, {40}));
    ids.index_put_({1, 40}, 999);
    const auto v = model.visual->forward(images);
    return {v.f_last, v.f, v.f_proj, model.text->forward(ids)};
  }

  static void expectSameModel(const std::string& reference, const std::string& other) {
    const auto a = loadClip(file(reference));
    const auto b = loadClip(file(other));
    EXPECT_EQ(a->arch().summary(), b->arch().summary()) << other;
    const auto fa = features(*a);
    const auto fb = features(*b);
    for (std::size_t i = 0; i < fa.size(); ++i) {
      EXPECT_TRUE(torch::equal(fa[i], fb[i])) << other << ": feature " << i << " differs by "
                                              << (fa[i] - fb[i]).abs().max().item<float>();
    }
    EXPECT_TRUE(torch::equal(a->logit_scale, b->logit_scale)) << other;
  }

  static std::unique_ptr<TempDir> dir_;
  TempDir scratch_;
};

std::unique_ptr<TempDir> ClipLayouts::dir_;

TEST_F(ClipLayouts, EveryLayoutGivesTheTorchScriptFeatures) {
  for (const char* other :
       {"a_state_dict.pt", "a_openclip_checkpoint.pt", "a_openclip.safetensors", "a_hf",
        "a_hf/model.safetensors", "a_hf_f16", "a_hf_bin", "a_hf_bin/pytorch_model.bin"}) {
    expectSameModel("a_ts.pt", other);
  }
}

// The TorchScript reader takes the tensors from data.pkl without parsing the archive's code; it
// must give exactly what LibTorch's own loader (torch::jit::load) gives, names and values, for
// archives traced by PyTorch (fp32 and fp16) and for agreid's own.
TEST_F(ClipLayouts, TorchScriptTensorsEqualLibTorchsLoader) {
  const std::string own = scratch_.file("own.pt");
  saveClip(*loadClip(file("a_ts.pt")), own);
  for (const std::string& path : {file("a_ts.pt"), file("b_ts.pt"), own}) {
    std::string dtype;
    const auto ours = readTorchScriptTensors(path, &dtype);
    torch::jit::Module module = torch::jit::load(path, torch::kCPU);
    std::map<std::string, at::Tensor> theirs;
    for (const auto& p : module.named_parameters(true)) theirs[p.name] = p.value;
    for (const auto& b : module.named_buffers(true)) theirs[b.name] = b.value;
    ASSERT_EQ(ours.size(), theirs.size()) << path;
    for (const auto& [name, t] : theirs) {
      ASSERT_EQ(ours.count(name), 1u) << path << ": " << name;
      EXPECT_EQ(ours.at(name).scalar_type(), t.scalar_type()) << name;
      EXPECT_TRUE(torch::equal(ours.at(name), t)) << path << ": " << name;
    }
    EXPECT_EQ(dtype, "Float") << path;
  }
}

TEST_F(ClipLayouts, TorchScriptArchiveWithoutAModuleIsRefusedInOneLine) {
  // A torch.save archive renamed: its data.pkl holds a dict, not a module object.
  const std::string msg = inputErrorOf([&] { readTorchScriptTensors(file("a_state_dict.pt")); });
  EXPECT_CONTAINS(msg, "TorchScript archive '" + file("a_state_dict.pt") + "'");
  EXPECT_CONTAINS(msg, "holds no TorchScript module");
}

TEST_F(ClipLayouts, HuggingFaceHeadCountsComeFromConfig) {
  expectSameModel("b_ts.pt", "b_hf");
  const auto model = loadClip(file("b_hf"));
  EXPECT_EQ(model->arch().vision_heads, 2);
  EXPECT_EQ(model->arch().text_heads, 2);
  EXPECT_EQ(loadClip(file("a_hf"))->arch().vision_heads, 1);
}

TEST_F(ClipLayouts, LayoutsAreNamed) {
  EXPECT_EQ(readClipWeights(file("a_ts.pt")).layout, "OpenAI TorchScript archive");
  EXPECT_EQ(readClipWeights(file("a_state_dict.pt")).layout,
            "OpenAI/open_clip state dict (torch.save)");
  EXPECT_EQ(readClipWeights(file("a_openclip.safetensors")).layout,
            "OpenAI/open_clip state dict (safetensors)");
  const ClipWeights hf = readClipWeights(file("a_hf"));
  EXPECT_EQ(hf.layout, "Hugging Face CLIPModel (safetensors + config.json)");
  EXPECT_EQ(hf.file, file("a_hf/model.safetensors"));
  EXPECT_EQ(hf.config, file("a_hf/config.json"));
  EXPECT_EQ(readClipWeights(file("a_hf_bin")).layout,
            "Hugging Face CLIPModel (torch.save + config.json)");
  EXPECT_EQ(readClipWeights(file("a_hf_f16")).stored_dtype, "F16");
  EXPECT_EQ(readClipWeights(file("a_state_dict.pt")).stored_dtype, "Float");
  const std::string d = describeCheckpoint(file("a_hf_f16"));
  EXPECT_CONTAINS(d, "layout: Hugging Face CLIPModel (safetensors + config.json) (stored as F16)");
  EXPECT_CONTAINS(d, "config: " + file("a_hf_f16/config.json"));
  EXPECT_CONTAINS(d, "patch 8, grid 4x4 (32x32 input)");
  EXPECT_CONTAINS(d, "context 77, vocabulary 1000");
  EXPECT_TRUE(isClipCheckpoint(file("a_hf")));
  EXPECT_TRUE(isClipCheckpoint(file("a_openclip_checkpoint.pt")));
  EXPECT_FALSE(isClipCheckpoint(file("dtypes.safetensors")));
  EXPECT_EQ(clipWeightsFiles(file("a_hf")),
            (std::vector<std::string>{file("a_hf/config.json"), file("a_hf/model.safetensors")}));
  EXPECT_EQ(clipWeightsFiles(file("a_ts.pt")), std::vector<std::string>{file("a_ts.pt")});
}

TEST_F(ClipLayouts, InspectDescribesEveryLayout) {
  const std::pair<const char*, const char*> cases[] = {
      {"a_ts.pt", "layout: OpenAI TorchScript archive (stored as Float)"},
      {"a_state_dict.pt", "layout: OpenAI/open_clip state dict (torch.save) (stored as Float)"},
      {"a_openclip.safetensors",
       "layout: OpenAI/open_clip state dict (safetensors) (stored as F32)"},
      {"a_hf", "layout: Hugging Face CLIPModel (safetensors + config.json) (stored as F32)"},
      {"a_hf_bin", "layout: Hugging Face CLIPModel (torch.save + config.json) (stored as Float)"},
  };
  const int64_t params = countParameters(*loadClip(file("a_ts.pt")));
  for (const auto& [name, layout] : cases) {
    const auto r = agreid::testing::runAgreid({"inspect", file(name)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_CONTAINS(r.out, layout);
    EXPECT_CONTAINS(r.out,
                    "vision ViT width 64, 2 layers, 1 heads, patch 8, grid 4x4 (32x32 input)");
    EXPECT_CONTAINS(r.out, "context 77, vocabulary 1000; embed dim 32");
    EXPECT_CONTAINS(r.out, "total " + std::to_string(params));
  }
  const std::string cut = truncated("a_hf/model.safetensors", 1000);
  const auto r = agreid::testing::runAgreid({"inspect", cut});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(agreid::testing::lineCount(r.err), 1) << r.err;
  EXPECT_CONTAINS(r.err, cut);
}

TEST_F(ClipLayouts, SafetensorsDtypes) {
  std::string dtype;
  const auto t = readSafetensors(file("dtypes.safetensors"), &dtype);
  EXPECT_TRUE(torch::equal(t.at("x_bf16"), t.at("x_bf16_as_f32")));
  EXPECT_TRUE(torch::equal(t.at("x_f16"), t.at("x_f16_as_f32")));
  EXPECT_EQ(t.at("x_bf16").scalar_type(), torch::kFloat);
  EXPECT_TRUE(
      torch::equal(t.at("i64"), torch::tensor({int64_t{-3}, int64_t{0}, int64_t{1} << 40})));
  EXPECT_TRUE(torch::equal(t.at("i32"), torch::tensor({{-7, 9}}, torch::kLong)));
  EXPECT_EQ(t.at("empty").sizes(), (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(dtype, "F32");  // the first floating tensor in name order: "empty"
}

TEST_F(ClipLayouts, TruncatedFilesOfEachLayoutFailInOneLine) {
  for (const char* name :
       {"a_ts.pt", "a_state_dict.pt", "a_openclip_checkpoint.pt", "a_openclip.safetensors",
        "a_hf/model.safetensors", "a_hf_bin/pytorch_model.bin"}) {
    const auto size = fs::file_size(file(name));
    for (const std::uintmax_t keep : {std::uintmax_t{6}, size / 2, size - 1}) {
      std::string cut = truncated(name, keep);
      const fs::path config = fs::path(file(name)).parent_path() / "config.json";
      if (fs::exists(config)) {
        fs::copy_file(config, scratch_.file("config.json"), fs::copy_options::overwrite_existing);
      }
      const std::string msg = inputErrorOf([&] { loadClip(cut); });
      EXPECT_CONTAINS(msg, cut);
    }
  }
}

TEST_F(ClipLayouts, ShapesImplyingMoreValuesThanStoredAreRefusedBeforeAllocation) {
  auto tensors = readClipWeights(file("a_ts.pt")).tensors;
  tensors["visual.conv1.weight"] = torch::zeros({2048, 3, 8, 8});  // width 2048, 2 layers
  const std::string path = scratch_.file("wide.pt");
  writeTensorArchive(tensors, path);
  EXPECT_CONTAINS(inputErrorOf([&] { loadClip(path); }),
                  "holds fewer values than the architecture its tensor shapes imply");
}

TEST_F(ClipLayouts, LegacyTorchSaveIsRefusedInOneLine) {
  const std::string msg = inputErrorOf([&] { loadClip(file("a_legacy.pt")); });
  EXPECT_CONTAINS(msg, file("a_legacy.pt"));
  EXPECT_CONTAINS(msg, "the legacy format of PyTorch < 1.6 is not supported");
}

TEST_F(ClipLayouts, FlippedBitInZipLayoutsIsCaughtByTheCrc) {
  for (const char* name : {"a_ts.pt", "a_state_dict.pt", "a_hf_bin/pytorch_model.bin"}) {
    const std::string path = truncated(name, fs::file_size(file(name)));  // a full copy
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(fs::file_size(path) / 2));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(fs::file_size(path) / 2));
    f.put(static_cast<char>(c ^ 0x10));
    f.close();
    const fs::path config = fs::path(file(name)).parent_path() / "config.json";
    if (fs::exists(config)) {
      fs::copy_file(config, scratch_.file("config.json"), fs::copy_options::overwrite_existing);
    }
    const std::string msg = inputErrorOf([&] { loadClip(path); });
    EXPECT_CONTAINS(msg, path + ": damaged archive: ");
    const auto r = agreid::testing::runAgreid({"inspect", path});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(agreid::testing::lineCount(r.err), 1) << r.err;
    EXPECT_CONTAINS(r.err, "damaged archive");
  }
}

// Safetensors files with a hand-written header and `data` bytes after it.
std::string safetensorsBytes(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + header + data;
}

TEST(Safetensors, InconsistentHeadersFailInOneLineNamingTheTensor) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  const std::string data(16, '\0');
  const auto error = [&](const std::string& header) {
    writeFile(path, safetensorsBytes(header, data));
    return inputErrorOf([&] { readSafetensors(path); });
  };
  EXPECT_CONTAINS(error(R"({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]})"),
                  "malformed JSON");
  EXPECT_CONTAINS(error(R"({"w": {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]}})"),
                  "tensor 'w': dtype 'F64' is not supported");
  EXPECT_CONTAINS(error(R"({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}})"),
                  "tensor 'w': data_offsets span 12 bytes, but F32 of this shape needs 16");
  EXPECT_CONTAINS(error(R"({"w": {"dtype": "F32", "shape": [5], "data_offsets": [0, 20]}})"),
                  "tensor 'w': data_offsets end at byte 20 of a 16-byte data section");
  EXPECT_CONTAINS(error(R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})"),
                  "tensor 'w': 'shape' holds something other than sizes >= 0");
  EXPECT_CONTAINS(error(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8]}})"),
                  "tensor 'w': 'data_offsets' must be two integers");
  EXPECT_CONTAINS(error(R"({"w": {"shape": [2], "data_offsets": [0, 8]}})"),
                  "tensor 'w': no string 'dtype'");
  EXPECT_CONTAINS(error(R"({"v": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},)"
                        R"( "w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})"),
                  "tensors 'v' and 'w' overlap");
  EXPECT_CONTAINS(error(R"([1, 2])"), "header is not a JSON object");
  // A header length beyond the file.
  std::string bytes = safetensorsBytes("{}", "");
  bytes[0] = 100;
  writeFile(path, bytes);
  EXPECT_CONTAINS(inputErrorOf([&] { readSafetensors(path); }),
                  "header length 100 exceeds the file");
  EXPECT_CONTAINS(inputErrorOf([&] { readSafetensors(path); }), path);
}

// A copy of the a_hf folder with its config.json replaced by `edit(config)`.
class HuggingFaceConfig : public ClipLayouts {
 protected:
  std::string withConfig(const std::function<std::string(std::string)>& edit) {
    const std::string folder = scratch_.file("hf");
    fs::create_directories(folder);
    fs::copy_file(file("a_hf/model.safetensors"), folder + "/model.safetensors",
                  fs::copy_options::overwrite_existing);
    writeFile(folder + "/config.json", edit(readFile(file("a_hf/config.json"))));
    return folder;
  }
  static std::string replace(std::string s, const std::string& from, const std::string& to) {
    const auto at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return at == std::string::npos ? s : s.replace(at, from.size(), to);
  }
};

TEST_F(HuggingFaceConfig, ConfigErrorsNameTheField) {
  std::string dir = withConfig([](std::string c) {
    return replace(c, "\"hidden_act\": \"quick_gelu\"", "\"hidden_act\": \"gelu\"");
  });
  EXPECT_CONTAINS(inputErrorOf([&] { loadClip(dir); }), "hidden_act is 'gelu'");
  dir = withConfig([](std::string c) {
    return replace(c, "\"num_attention_heads\": 1", "\"num_attention_heads\": 3");
  });
  EXPECT_CONTAINS(inputErrorOf([&] { loadClip(dir); }), "head counts do not divide the widths");
  dir = withConfig(
      [](std::string c) { return replace(c, "\"projection_dim\": 32", "\"projection_dim\": 31"); });
  EXPECT_CONTAINS(inputErrorOf([&] { loadClip(dir); }),
                  "projection_dim disagrees with the weights");
  dir = withConfig(
      [](std::string c) { return replace(c, "\"image_size\": 32", "\"image_size\": 224"); });
  EXPECT_CONTAINS(inputErrorOf([&] { loadClip(dir); }),
                  "vision_config.image_size disagrees with the weights");
  dir = withConfig([](std::string c) { return c.substr(0, c.size() / 2); });
  EXPECT_CONTAINS(inputErrorOf([&] { loadClip(dir); }), "malformed JSON");
  fs::remove(dir + "/config.json");
  EXPECT_CONTAINS(inputErrorOf([&] { loadClip(dir); }), "no config.json beside them");
}

TEST_F(HuggingFaceConfig, MissingOrExtraTensorsAreNamed) {
  auto tensors = readSafetensors(file("a_hf/model.safetensors"));
  const std::string config = readFile(file("a_hf/config.json"));
  const std::string k = "vision_model.encoder.layers.1.self_attn.k_proj.bias";
  auto without_k = tensors;
  without_k.erase(k);
  EXPECT_CONTAINS(inputErrorOf([&] { fromHuggingFaceClip(without_k, config, "c.json", "m"); }),
                  "missing tensor '" + k + "'");
  auto extra = tensors;
  extra["vision_model.extra.weight"] = torch::zeros({2});
  const auto mapped = fromHuggingFaceClip(extra, config, "c.json", "m");
  EXPECT_EQ(mapped.count("vision_model.extra.weight"), 1u);  // left for the loader to refuse
  EXPECT_EQ(mapped.count("visual.transformer.resblocks.1.attn.in_proj_bias"), 1u);
}

}  // namespace
}  // namespace agreid::trainer
