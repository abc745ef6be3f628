#include "trainer/model/clip_weights.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "trainer/model/clip_checkpoint.h"
#include "trainer/model/safetensors.h"
#include "trainer/model/torch_save.h"
#include "trainer/util/json.h"
#include "trainer/util/zip_verify.h"

namespace agreid::trainer {
namespace fs = std::filesystem;
namespace {

// File names a checkpoint folder may hold, in the order they are looked for.
const char* const kFolderFiles[] = {"model.safetensors", "pytorch_model.bin",
                                    "open_clip_model.safetensors", "open_clip_pytorch_model.bin"};
constexpr const char* kConfigName = "config.json";

struct Located {
  std::string file;
  std::string config;  // config.json beside the file, or ""
};

Located locate(const std::string& path) {
  std::error_code ec;
  Located l;
  if (fs::is_directory(path, ec)) {
    for (const char* name : kFolderFiles) {
      if (fs::is_regular_file(fs::path(path) / name, ec)) {
        l.file = (fs::path(path) / name).string();
        break;
      }
    }
    if (l.file.empty()) {
      throw InputError("CLIP weights folder '" + path +
                       "' holds none of model.safetensors, pytorch_model.bin, "
                       "open_clip_model.safetensors, open_clip_pytorch_model.bin");
    }
  } else if (fs::is_regular_file(path, ec)) {
    l.file = path;
  } else {
    throw InputError("CLIP weights '" + path + "': no such file or folder");
  }
  const fs::path config = fs::path(l.file).parent_path() / kConfigName;
  if (fs::is_regular_file(config, ec)) l.config = config.string();
  return l;
}

std::string readText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("'" + path + "': cannot be read");
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

bool hasHuggingFaceNames(const std::map<std::string, at::Tensor>& t) {
  for (const auto& [name, tensor] : t) {
    if (name.rfind("vision_model.", 0) == 0 || name.rfind("text_model.", 0) == 0) return true;
  }
  return false;
}

bool startsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// Renames inside one encoder layer ("self_attn.out_proj.weight" -> "attn.out_proj.weight").
std::string layerName(const std::string& rest) {
  static const std::pair<const char*, const char*> kRenames[] = {
      {"self_attn.out_proj.", "attn.out_proj."},
      {"layer_norm1.", "ln_1."},
      {"layer_norm2.", "ln_2."},
      {"mlp.fc1.", "mlp.c_fc."},
      {"mlp.fc2.", "mlp.c_proj."},
  };
  for (const auto& [from, to] : kRenames) {
    if (startsWith(rest, from)) return to + rest.substr(std::string(from).size());
  }
  return "";
}

// The configuration of one tower in config.json (absent fields: transformers' defaults).
struct TowerConfig {
  const Json* json = nullptr;  // the vision_config / text_config object, or null
  std::string section;
  std::string config_path;

  const Json* field(const char* name) const { return json ? jsonMember(*json, name) : nullptr; }

  [[noreturn]] void fail(const std::string& name, const std::string& what) const {
    throw InputError("Hugging Face config '" + config_path + "': " + section + "." + name + " " +
                     what);
  }

  int64_t integer(const char* name, int64_t fallback) const {
    const Json* v = field(name);
    if (!v) return fallback;
    const auto n = jsonInt64(*v);
    if (!n || *n <= 0) fail(name, "must be a positive integer");
    return *n;
  }

  // Compares a config value, when present, with the one the tensors imply.
  void expect(const char* name, int64_t from_tensors, const std::string& tensor) const {
    const Json* v = field(name);
    if (!v) return;
    if (jsonInt64(*v) != from_tensors) {
      fail(name,
           "disagrees with the weights: " + tensor + " implies " + std::to_string(from_tensors));
    }
  }

  void checkSupported() const {
    if (const Json* act = field("hidden_act")) {
      if (!act->is_string() || act->get<std::string>() != "quick_gelu") {
        fail("hidden_act", "is '" +
                               (act->is_string() ? act->get<std::string>() : act->type_name()) +
                               "'; agreid's CLIP towers use quick_gelu (OpenAI's activation)");
      }
    }
    if (const Json* eps = field("layer_norm_eps")) {
      if (!eps->is_number() || std::abs(eps->get<double>() - 1e-5) > 1e-12) {
        fail("layer_norm_eps", "must be 1e-05 (the LayerNorm epsilon of agreid's towers)");
      }
    }
  }
};

void checkAgainstConfig(const std::map<std::string, at::Tensor>& t, const TowerConfig& vision,
                        const TowerConfig& text, const Json& root, const std::string& config_path,
                        const std::string& file) {
  const auto size = [&](const char* name, int64_t dim) -> int64_t {
    const auto it = t.find(name);
    return it != t.end() && it->second.dim() > dim ? it->second.size(dim) : -1;
  };
  if (const int64_t w = size("visual.conv1.weight", 0); w > 0) {
    vision.expect("hidden_size", w, "vision_model.embeddings.patch_embedding.weight");
    const int64_t patch = size("visual.conv1.weight", 3);
    vision.expect("patch_size", patch, "vision_model.embeddings.patch_embedding.weight");
    const int64_t tokens = size("visual.positional_embedding", 0) - 1;
    const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(tokens))));
    if (tokens > 0 && side * side == tokens) {
      vision.expect("image_size", side * patch,
                    "vision_model.embeddings.position_embedding.weight");
    }
  }
  vision.expect("num_hidden_layers", countBlocks(t, "visual.transformer.resblocks.", file),
                "vision_model.encoder.layers.N");
  if (const int64_t w = size("token_embedding.weight", 1); w > 0) {
    text.expect("hidden_size", w, "text_model.embeddings.token_embedding.weight");
    text.expect("vocab_size", size("token_embedding.weight", 0),
                "text_model.embeddings.token_embedding.weight");
  }
  if (const int64_t n = size("positional_embedding", 0); n > 0) {
    text.expect("max_position_embeddings", n, "text_model.embeddings.position_embedding.weight");
  }
  text.expect("num_hidden_layers", countBlocks(t, "transformer.resblocks.", file),
              "text_model.encoder.layers.N");
  if (const int64_t d = size("text_projection", 1); d > 0) {
    if (const Json* v = jsonMember(root, "projection_dim")) {
      if (jsonInt64(*v) != d) {
        throw InputError("Hugging Face config '" + config_path +
                         "': projection_dim disagrees with the weights: text_projection.weight "
                         "implies " +
                         std::to_string(d));
      }
    }
  }
}

}  // namespace

std::map<std::string, at::Tensor> fromHuggingFaceClip(std::map<std::string, at::Tensor> hf,
                                                      const std::string& config_json,
                                                      const std::string& config_path,
                                                      const std::string& file) {
  const Json root = parseJson(config_json, "Hugging Face config '" + config_path + "'");
  if (!root.is_object()) {
    throw InputError("Hugging Face config '" + config_path + "': not a JSON object");
  }
  const auto tower = [&](const char* section) {
    // Configs of early transformers releases may hold only "<section>_dict".
    const Json* json = jsonMember(root, section);
    if (!json) json = jsonMember(root, std::string(section) + "_dict");
    TowerConfig c{json, section, config_path};
    if (c.json && !c.json->is_object()) {
      throw InputError("Hugging Face config '" + config_path + "': " + section +
                       " is not an object");
    }
    c.checkSupported();
    return c;
  };
  const TowerConfig vision = tower("vision_config");
  const TowerConfig text = tower("text_config");

  std::map<std::string, at::Tensor> out;
  // q/k/v projections per (block, weight|bias), to be concatenated into in_proj.
  std::map<std::string, std::map<char, std::pair<std::string, at::Tensor>>> qkv;
  for (auto& [name, tensor] : hf) {
    std::string mapped;
    std::string tower_prefix, rest;
    if (startsWith(name, "vision_model.")) {
      tower_prefix = "visual.";
      rest = name.substr(13);
    } else if (startsWith(name, "text_model.")) {
      rest = name.substr(11);
    }
    if (name == "visual_projection.weight") {
      out["visual.proj"] = tensor.t().contiguous();
      continue;
    }
    if (name == "text_projection.weight") {
      out["text_projection"] = tensor.t().contiguous();
      continue;
    }
    if (name == "logit_scale") {
      out[name] = tensor;
      continue;
    }
    if (rest == "embeddings.position_ids") continue;  // a buffer of 0..N-1, not a weight
    const bool is_vision = tower_prefix == "visual.";
    if (startsWith(rest, "encoder.layers.")) {
      const std::size_t dot = rest.find('.', 15);
      const std::string index = rest.substr(15, dot - 15);
      const std::string inner = dot == std::string::npos ? "" : rest.substr(dot + 1);
      const std::string block = tower_prefix + "transformer.resblocks." + index + ".";
      if (inner.size() > 16 && startsWith(inner, "self_attn.") && inner[11] == '_' &&
          (inner[10] == 'q' || inner[10] == 'k' || inner[10] == 'v') &&
          startsWith(inner.substr(11), "_proj.")) {
        const std::string kind = inner.substr(17);  // weight or bias
        qkv[block + "attn.in_proj_" + kind][inner[10]] = {name, tensor};
        continue;
      }
      const std::string renamed = layerName(inner);
      if (!renamed.empty()) mapped = block + renamed;
    } else if (is_vision) {
      if (rest == "embeddings.patch_embedding.weight") mapped = "visual.conv1.weight";
      if (rest == "embeddings.class_embedding") mapped = "visual.class_embedding";
      if (rest == "embeddings.position_embedding.weight") mapped = "visual.positional_embedding";
      if (startsWith(rest, "pre_layrnorm.")) mapped = "visual.ln_pre." + rest.substr(13);
      if (startsWith(rest, "post_layernorm.")) mapped = "visual.ln_post." + rest.substr(15);
    } else if (!rest.empty()) {
      if (rest == "embeddings.token_embedding.weight") mapped = "token_embedding.weight";
      if (rest == "embeddings.position_embedding.weight") mapped = "positional_embedding";
      if (startsWith(rest, "final_layer_norm.")) mapped = "ln_final." + rest.substr(17);
    }
    // Names without an OpenAI counterpart stay as they are: the loader lists them as unexpected.
    out[mapped.empty() ? name : mapped] = tensor;
  }
  for (auto& [target, parts] : qkv) {
    for (const char p : {'q', 'k', 'v'}) {
      if (!parts.count(p)) {
        const std::string any = parts.begin()->second.first;
        const std::size_t at = any.find("_proj.") - 1;
        throw InputError("CLIP weights '" + file + "': missing tensor '" + any.substr(0, at) + p +
                         any.substr(at + 1) + "'");
      }
    }
    const at::Tensor& q = parts['q'].second;
    for (const char p : {'k', 'v'}) {
      if (parts[p].second.sizes() != q.sizes()) {
        throw InputError("CLIP weights '" + file + "': tensor '" + parts[p].first +
                         "' differs in shape from '" + parts['q'].first + "'");
      }
    }
    out[target] = at::cat({q, parts['k'].second, parts['v'].second}, 0);
  }
  const auto heads = [&](const TowerConfig& c, int64_t fallback, const char* tensor) {
    out[tensor] = at::tensor(c.integer("num_attention_heads", fallback), at::kLong);
  };
  heads(vision, 12, "visual.transformer.heads");  // transformers' CLIPVisionConfig default
  heads(text, 8, "transformer.heads");            // CLIPTextConfig default
  checkAgainstConfig(out, vision, text, root, config_path, file);
  return out;
}

ClipWeights readClipWeights(const std::string& path) {
  const Located where = locate(path);
  ClipWeights w;
  w.file = where.file;
  std::string container;
  if (isSafetensorsFile(w.file)) {
    container = "safetensors";
    w.tensors = readSafetensors(w.file, &w.stored_dtype);
  } else {
    // zipKind verifies the archive (LibTorch's reader checks no CRC-32) before it is read.
    switch (zipKind(w.file)) {
      case ZipKind::kTorchScript:
        container = "TorchScript archive";
        w.tensors = readCheckpointTensors(w.file, &w.stored_dtype);
        break;
      case ZipKind::kTorchSave:
        container = "torch.save";
        w.tensors = readTorchSaveStateDict(w.file, &w.stored_dtype);
        break;
      case ZipKind::kOtherZip:
        verifyZipArchive(w.file);  // names the damage when there is some
        throw InputError("CLIP weights '" + w.file +
                         "': a zip archive that is neither a TorchScript archive nor a torch.save "
                         "file (damaged?)");
      case ZipKind::kNotZip:
        if (isLegacyTorchSave(w.file)) {
          w.tensors = readTorchSaveStateDict(w.file);  // throws the legacy-format error
        }
        throw InputError("CLIP weights '" + w.file +
                         "': not a TorchScript archive, torch.save file or safetensors file");
    }
  }
  if (hasHuggingFaceNames(w.tensors)) {
    if (where.config.empty()) {
      throw InputError("CLIP weights '" + w.file +
                       "' have Hugging Face names but no config.json beside them (it gives the "
                       "number of attention heads)");
    }
    w.config = where.config;
    w.tensors = fromHuggingFaceClip(std::move(w.tensors), readText(w.config), w.config, w.file);
    w.layout = "Hugging Face CLIPModel (" + container + " + config.json)";
  } else if (container == "TorchScript archive") {
    w.layout = "OpenAI TorchScript archive";
  } else {
    w.layout = "OpenAI/open_clip state dict (" + container + ")";
  }
  return w;
}

std::vector<std::string> clipWeightsFiles(const std::string& path) {
  const Located where = locate(path);
  std::vector<std::string> files = {where.file};
  const std::string name = fs::path(where.file).filename().string();
  const bool hf_name = name == "model.safetensors" || name == "pytorch_model.bin";
  if (!where.config.empty() && hf_name) files.push_back(where.config);
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace agreid::trainer
