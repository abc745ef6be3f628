#include "trainer/model/clip_checkpoint.h"

#include <torch/script.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "base/atomic_file.h"
#include "base/check.h"
#include "base/error.h"
#include "trainer/model/clip_weights.h"
#include "trainer/model/torch_save.h"
#include "trainer/util/zip_verify.h"

namespace agreid::trainer {
namespace {

// Tensors some OpenAI archives carry besides the model (build_model() deletes them).
const std::set<std::string> kIgnoredTensors = {"input_resolution", "context_length", "vocab_size"};
// agreid's metadata tensors.
constexpr const char* kGridSize = "visual.grid_size";
constexpr const char* kVisionHeads = "visual.transformer.heads";
constexpr const char* kTextHeads = "transformer.heads";

std::string shapeString(at::IntArrayRef shape) {
  std::ostringstream os;
  os << "[";
  for (std::size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw InputError("CLIP checkpoint '" + path + "': " + what);
}

const at::Tensor& require(const std::map<std::string, at::Tensor>& t, const std::string& name,
                          const std::string& path, int64_t dims) {
  const auto it = t.find(name);
  if (it == t.end()) fail(path, "missing tensor '" + name + "'");
  if (it->second.dim() != dims) {
    fail(path, "tensor '" + name + "' has shape " + shapeString(it->second.sizes()) +
                   ", expected " + std::to_string(dims) + " dimensions");
  }
  return it->second;
}

int64_t heads(const std::map<std::string, at::Tensor>& t, const char* key, int64_t width,
              const std::string& path) {
  const auto it = t.find(key);
  if (it != t.end()) {
    if (it->second.numel() != 1 || it->second.item<int64_t>() <= 0) {
      fail(path, std::string("tensor '") + key + "' must hold one positive head count");
    }
    return it->second.item<int64_t>();
  }
  if (width % 64 != 0) {
    fail(path, "width " + std::to_string(width) +
                   " is not a multiple of 64 and the archive has no '" + key +
                   "' tensor, so the number of heads is unknown");
  }
  return width / 64;
}

// Builds the module tree of `names` -> tensors under `root`, creating submodules per dotted part.
void addTensor(torch::jit::Module& root, const std::string& dotted, const at::Tensor& tensor,
               bool is_buffer) {
  torch::jit::Module m = root;
  std::string prefix = "__torch__.agreid.clip";
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = dotted.find('.', start);
    if (dot == std::string::npos) break;
    const std::string part = dotted.substr(start, dot - start);
    prefix += "." + (std::isdigit(static_cast<unsigned char>(part[0])) ? "m" + part : part);
    if (!m.hasattr(part)) m.register_module(part, torch::jit::Module(prefix));
    m = m.attr(part).toModule();
    start = dot + 1;
  }
  m.register_parameter(dotted.substr(start), tensor, is_buffer);
}

}  // namespace

int64_t countBlocks(const std::map<std::string, at::Tensor>& t, const std::string& prefix,
                    const std::string& path) {
  std::set<int64_t> indices;
  for (const auto& [name, tensor] : t) {
    if (name.rfind(prefix, 0) != 0) continue;
    const std::size_t dot = name.find('.', prefix.size());
    const std::string index = name.substr(prefix.size(), dot - prefix.size());
    if (index.empty() || index.size() > 6 ||
        index.find_first_not_of("0123456789") != std::string::npos)
      continue;
    indices.insert(std::stoll(index));
  }
  const int64_t blocks = indices.empty() ? 0 : *indices.rbegin() + 1;
  for (int64_t i = 0; i < blocks; ++i) {
    if (!indices.count(i)) fail(path, "missing tensor '" + prefix + std::to_string(i) + ".*'");
  }
  return blocks;
}

bool isZipArchive(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {0, 0, 0, 0};
  in.read(magic, 4);
  return in.gcount() == 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4;
}

bool isClipCheckpoint(const std::string& path) {
  try {
    return readClipWeights(path).tensors.count("visual.conv1.weight") > 0;
  } catch (const std::exception&) {
  }
  return false;
}

std::map<std::string, at::Tensor> readCheckpointTensors(const std::string& path,
                                                        std::string* stored_dtype) {
  if (!std::filesystem::is_regular_file(path)) fail(path, "no such file");
  // The archive is verified (CRC-32 of every entry, LibTorch's layout) before LibTorch's zip
  // reader opens it; its tensors are then read from data.pkl without parsing its TorchScript code.
  verifyZipArchive(path);
  std::map<std::string, at::Tensor> out = readTorchScriptTensors(path, stored_dtype);
  for (auto& [name, t] : out) {
    if (t.is_floating_point()) t = t.to(torch::kFloat);
    t = t.contiguous();
  }
  return out;
}

ClipArch inferClipArch(const std::map<std::string, at::Tensor>& t, const std::string& path) {
  if (t.count("visual.attnpool.positional_embedding")) {
    fail(path, "a ResNet CLIP (visual.attnpool); only ViT checkpoints are supported");
  }
  ClipArch a;
  const auto& conv1 = require(t, "visual.conv1.weight", path, 4);
  a.vision_width = conv1.size(0);
  a.patch_size = conv1.size(3);
  a.vision_layers = countBlocks(t, "visual.transformer.resblocks.", path);
  if (a.vision_layers == 0) fail(path, "missing tensor 'visual.transformer.resblocks.0.*'");
  a.vision_heads = heads(t, kVisionHeads, a.vision_width, path);
  const auto& vpos = require(t, "visual.positional_embedding", path, 2);
  const int64_t tokens = vpos.size(0) - 1;
  const auto grid = t.find(kGridSize);
  if (grid != t.end()) {
    if (grid->second.numel() != 2) fail(path, "tensor 'visual.grid_size' must hold 2 values");
    a.grid_h = grid->second[0].item<int64_t>();
    a.grid_w = grid->second[1].item<int64_t>();
  } else {
    const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(tokens))));
    if (side * side != tokens) {
      fail(path, "visual.positional_embedding has " + std::to_string(tokens) +
                     " grid rows, not a square, and there is no 'visual.grid_size' tensor");
    }
    a.grid_h = a.grid_w = side;
  }
  a.embed_dim = require(t, "text_projection", path, 2).size(1);
  a.context_length = require(t, "positional_embedding", path, 2).size(0);
  a.vocab_size = require(t, "token_embedding.weight", path, 2).size(0);
  a.text_width = require(t, "ln_final.weight", path, 1).size(0);
  a.text_layers = countBlocks(t, "transformer.resblocks.", path);
  if (a.text_layers == 0) fail(path, "missing tensor 'transformer.resblocks.0.*'");
  a.text_heads = heads(t, kTextHeads, a.text_width, path);
  for (const int64_t v : {a.vision_width, a.patch_size, a.grid_h, a.grid_w, a.embed_dim,
                          a.context_length, a.vocab_size, a.text_width}) {
    if (v <= 0) fail(path, "a tensor that defines the architecture has an empty dimension");
  }
  if (a.vision_width % a.vision_heads != 0 || a.text_width % a.text_heads != 0) {
    fail(path, "head counts do not divide the widths");
  }
  return a;
}

namespace {

std::shared_ptr<ClipModel> clipFromTensors(const std::map<std::string, at::Tensor>& tensors,
                                           const std::string& path) {
  const ClipArch arch = inferClipArch(tensors, path);
  // Every block holds 12 width^2 weights (in_proj, out_proj, c_fc, c_proj): a file holding fewer
  // values than its shapes imply is refused before the model is allocated.
  double stored = 0;
  for (const auto& [name, tensor] : tensors) stored += static_cast<double>(tensor.numel());
  const auto blocks = [](int64_t layers, int64_t width) {
    return 12.0 * static_cast<double>(layers) * static_cast<double>(width) *
           static_cast<double>(width);
  };
  if (stored <
      blocks(arch.vision_layers, arch.vision_width) + blocks(arch.text_layers, arch.text_width)) {
    fail(path, "holds fewer values than the architecture its tensor shapes imply (" +
                   arch.summary() + "): tensors are missing");
  }
  auto model = std::make_shared<ClipModel>(arch);
  std::set<std::string> expected;
  torch::NoGradGuard no_grad;
  for (auto& [name, param] : model->openaiNamedParameters()) {
    expected.insert(name);
    const auto it = tensors.find(name);
    if (it == tensors.end()) fail(path, "missing tensor '" + name + "'");
    if (it->second.sizes() != param.sizes()) {
      fail(path, "tensor '" + name + "' has shape " + shapeString(it->second.sizes()) +
                     ", expected " + shapeString(param.sizes()));
    }
    param.copy_(it->second);
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, tensor] : tensors) {
    if (expected.count(name) || kIgnoredTensors.count(name) || name == kGridSize ||
        name == kVisionHeads || name == kTextHeads)
      continue;
    unexpected.push_back(name);
  }
  if (!unexpected.empty()) {
    std::string list;
    for (std::size_t i = 0; i < unexpected.size() && i < 10; ++i) {
      list += (i ? ", " : "") + unexpected[i];
    }
    if (unexpected.size() > 10) list += ", ... (" + std::to_string(unexpected.size()) + " in all)";
    fail(path, "unexpected tensors: " + list);
  }
  return model;
}

}  // namespace

std::shared_ptr<ClipModel> loadClip(const std::string& path) {
  const ClipWeights weights = readClipWeights(path);
  return clipFromTensors(weights.tensors, weights.file);
}

void checkClipWeights(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw InputError(path + ": CLIP weights file not found (model.weights)");
  }
  try {
    loadClip(path);
  } catch (const InputError& e) {
    throw InputError(std::string("unusable CLIP weights (model.weights): ") + e.what());
  }
}

void writeTensorArchive(const std::map<std::string, at::Tensor>& tensors, const std::string& path) {
  torch::jit::Module root("__torch__.agreid.clip.ClipModel");
  for (const auto& [name, tensor] : tensors) {
    const at::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    addTensor(root, name, t, !t.is_floating_point());
  }
  const std::string tmp = tempPathFor(path);  // unique name beside `path` (base/atomic_file.h)
  try {
    root.save(tmp);
  } catch (const c10::Error& e) {
    removeTempFile(tmp);
    const std::string why = e.what_without_backtrace();
    throw InputError("cannot write CLIP checkpoint '" + path + "' (" +
                     why.substr(0, why.find('\n')) + ")");
  }
  commitTempFile(tmp, path);  // fsync, rename, fsync the folder; removes tmp on failure
}

void saveClip(const ClipModel& model, const std::string& path) {
  const ClipArch& a = model.arch();
  std::map<std::string, at::Tensor> tensors;
  for (const auto& [name, tensor] : model.openaiNamedParameters()) tensors[name] = tensor;
  tensors[kGridSize] = torch::tensor({a.grid_h, a.grid_w}, torch::kLong);
  tensors[kVisionHeads] = torch::tensor(a.vision_heads, torch::kLong);
  tensors[kTextHeads] = torch::tensor(a.text_heads, torch::kLong);
  writeTensorArchive(tensors, path);
}

std::string describeClip(const ClipModel& model) {
  const int64_t vision = countParameters(*model.visual);
  const int64_t text = countParameters(*model.text);
  const int64_t total = countParameters(model);
  std::ostringstream os;
  os << "architecture: " << model.arch().summary() << "\n"
     << "parameters: vision " << vision << ", text " << text << ", total " << total
     << " (vision + text + logit_scale)\n";
  return os.str();
}

std::string describeCheckpoint(const std::string& path) {
  const ClipWeights weights = readClipWeights(path);
  const auto model = clipFromTensors(weights.tensors, weights.file);
  std::string text = path + ": CLIP weights\nlayout: " + weights.layout + " (stored as " +
                     weights.stored_dtype + ")\nfile: " + weights.file + "\n";
  if (!weights.config.empty()) text += "config: " + weights.config + "\n";
  return text + describeClip(*model);
}

}  // namespace agreid::trainer
