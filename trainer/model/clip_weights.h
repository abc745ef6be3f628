// CLIP weights in the layouts people hold them, read by detection with no conversion step:
//
//   OpenAI TorchScript archive     ViT-B-16.pt from OpenAI's CLIP, or agreid's own clip.pt
//   PyTorch state dict             torch.save(model.state_dict()) (open_clip's
//                                  open_clip_pytorch_model.bin, training checkpoints holding
//                                  {"state_dict": ..}), OpenAI/open_clip tensor names
//   safetensors state dict         the same names in a .safetensors file
//   (open_clip_model.safetensors) Hugging Face CLIPModel         model.safetensors or
//   pytorch_model.bin with config.json beside
//                                  it, or a folder holding both (e.g.
//                                  openai/clip-vit-base-patch16); transformers' names
//                                  (vision_model.encoder.layers.N.self_attn. q_proj, pre_layrnorm,
//                                  visual_projection, ...)
//
// Every layout is mapped onto OpenAI's state-dict names, so one ClipModel serves them all:
// Hugging Face's separate q/k/v projections are concatenated into in_proj, its projections
// transposed, and its head counts (config.json) passed as agreid's metadata tensors
// visual.transformer.heads / transformer.heads. Errors are one-line InputErrors naming the file and
// the tensor or config field. Functions are thread-compatible.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

namespace agreid::trainer {

struct ClipWeights {
  std::string layout;        // e.g. "Hugging Face CLIPModel (safetensors + config.json)"
  std::string file;          // the file holding the tensors
  std::string config;        // the config.json read, or ""
  std::string stored_dtype;  // dtype of the stored floating tensors ("Half", "F16", ...)
  std::map<std::string, at::Tensor> tensors;  // OpenAI names; fp32 / int64, CPU
};

// Reads the CLIP weights at `path` (a file, or a folder holding a Hugging Face or open_clip
// checkpoint) in whichever layout it is. Zip archives (TorchScript, torch.save) are verified
// first: every entry against its CRC-32 (trainer/util/zip_verify.h), since LibTorch's reader would
// load a flipped bit silently. Tensor shapes are checked later, when a ClipModel is
// built from them (clip_checkpoint.h loadClip).
ClipWeights readClipWeights(const std::string& path);

// The files whose bytes define the weights at `path` (the tensor file and config.json when one is
// used), sorted; for content keys. Throws InputError like readClipWeights when none is found.
std::vector<std::string> clipWeightsFiles(const std::string& path);

// Maps Hugging Face CLIPModel tensors onto OpenAI names, with the head counts and checks from the
// parsed config.json text `config_json` (named `config_path` in errors).
std::map<std::string, at::Tensor> fromHuggingFaceClip(std::map<std::string, at::Tensor> hf,
                                                      const std::string& config_json,
                                                      const std::string& config_path,
                                                      const std::string& file);

}  // namespace agreid::trainer
