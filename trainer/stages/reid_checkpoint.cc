#include "trainer/stages/reid_checkpoint.h"

#include <torch/torch.h>

#include <map>

#include "base/error.h"
#include "trainer/model/attribute_encoder.h"
#include "trainer/model/clip_checkpoint.h"
#include "trainer/model/clip_model.h"
#include "trainer/model/reid_model.h"

namespace agreid::trainer {
namespace {

std::vector<int64_t> archValues(const ClipArch& a) {
  return {a.embed_dim,  a.vision_width, a.vision_layers, a.vision_heads,
          a.patch_size, a.grid_h,       a.grid_w,        a.context_length,
          a.vocab_size, a.text_width,   a.text_layers,   a.text_heads};
}

ClipArch archFrom(const at::Tensor& t, const std::string& path) {
  if (t.numel() != 12) throw InputError(path + ": tensor 'meta.arch' must hold 12 values");
  const auto v = t.to(torch::kLong);
  auto at = [&](int i) { return v[i].item<int64_t>(); };
  ClipArch a;
  a.embed_dim = at(0), a.vision_width = at(1), a.vision_layers = at(2), a.vision_heads = at(3);
  a.patch_size = at(4), a.grid_h = at(5), a.grid_w = at(6), a.context_length = at(7);
  a.vocab_size = at(8), a.text_width = at(9), a.text_layers = at(10), a.text_heads = at(11);
  return a;
}

}  // namespace

void saveReidCheckpoint(const std::string& path, const ClipArch& arch, const ReidModel& model,
                        const AttributeEncoder* encoder) {
  std::map<std::string, at::Tensor> tensors;
  for (const auto& item : model.named_parameters()) {
    tensors["reid." + item.key()] = item.value().detach().to(torch::kCPU);
  }
  for (const auto& item : model.named_buffers()) {
    tensors["reid." + item.key()] = item.value().detach().to(torch::kCPU);
  }
  if (encoder) {
    for (const auto& item : encoder->named_parameters()) {
      tensors["encoder." + item.key()] = item.value().detach().to(torch::kCPU);
    }
  }
  const auto& o = model.options();
  tensors["meta.arch"] = torch::tensor(archValues(arch), torch::kLong);
  tensors["meta.reid"] =
      torch::tensor(std::vector<int64_t>{o.num_classes, o.num_cameras, o.image_height,
                                         o.image_width, o.stride, o.sie ? 1 : 0},
                    torch::kLong);
  tensors["meta.sie_coe"] = torch::tensor({o.sie_coe}, torch::kFloat);
  writeTensorArchive(tensors, path);
}

bool isReidCheckpoint(const std::string& path) {
  if (!isZipArchive(path)) return false;
  try {
    return readCheckpointTensors(path).count("meta.reid") > 0;
  } catch (const InputError&) {
    return false;
  }
}

std::shared_ptr<ReidModel> loadReidCheckpoint(const std::string& path) {
  auto tensors = readCheckpointTensors(path);
  auto meta = tensors.find("meta.reid");
  if (meta == tensors.end() || !tensors.count("meta.arch")) {
    throw InputError(path + ": not an agreid re-ID checkpoint (no 'meta.reid' tensor)");
  }
  const ClipArch arch = archFrom(tensors["meta.arch"], path);
  const auto r = meta->second.to(torch::kLong);
  if (r.numel() != 6) throw InputError(path + ": tensor 'meta.reid' must hold 6 values");
  ReidModelOptions o;
  o.num_classes = r[0].item<int64_t>();
  o.num_cameras = r[1].item<int64_t>();
  o.image_height = r[2].item<int64_t>();
  o.image_width = r[3].item<int64_t>();
  o.stride = r[4].item<int64_t>();
  o.sie = r[5].item<int64_t>() != 0;
  o.sie_coe = tensors.count("meta.sie_coe") ? tensors["meta.sie_coe"].item<double>() : 1.0;
  auto model = std::make_shared<ReidModel>(arch, o);
  torch::NoGradGuard no_grad;
  std::map<std::string, at::Tensor> expected;
  for (const auto& item : model->named_parameters()) expected[item.key()] = item.value();
  for (const auto& item : model->named_buffers()) expected[item.key()] = item.value();
  for (auto& [name, target] : expected) {
    auto it = tensors.find("reid." + name);
    if (it == tensors.end()) throw InputError(path + ": missing tensor 'reid." + name + "'");
    if (it->second.sizes() != target.sizes()) {
      std::ostringstream os;
      os << path << ": tensor 'reid." << name << "' has shape " << it->second.sizes()
         << ", expected " << target.sizes();
      throw InputError(os.str());
    }
    target.copy_(it->second.to(target.scalar_type()));
  }
  for (const auto& [name, t] : tensors) {
    if (name.rfind("reid.", 0) == 0 && !expected.count(name.substr(5))) {
      throw InputError(path + ": unexpected tensor '" + name + "'");
    }
  }
  model->eval();
  return model;
}

}  // namespace agreid::trainer
