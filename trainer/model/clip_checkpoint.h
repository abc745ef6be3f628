// CLIP checkpoints: OpenAI's TorchScript archives (ViT-B-16.pt and friends) and agreid's own,
// read by one code path; loadClip() also reads the other layouts of clip_weights.h. Tensors are
// read by their state-dict names (parameters and buffers of the archive's module tree), floating
// tensors converted to fp32, and the architecture inferred from shapes as OpenAI's build_model()
// does. agreid's archives add int64 metadata tensors the loader knows: visual.grid_size [2]
// (non-square grids), visual.transformer.heads and transformer.heads (head counts that are not
// width / 64).
//
// Errors are InputError naming the file: not a TorchScript archive, a missing tensor, unexpected
// tensors (listed), a shape mismatch (name, expected, found). Functions are thread-compatible.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>

#include "trainer/model/clip_model.h"

namespace agreid::trainer {

// Every tensor of a TorchScript archive by its dotted name; floating tensors as fp32. The dtype
// the floating tensors were stored in goes to `stored_dtype` when given.
std::map<std::string, at::Tensor> readCheckpointTensors(const std::string& path,
                                                        std::string* stored_dtype = nullptr);

// The architecture of the CLIP tensors `tensors` read from `path` (for messages).
ClipArch inferClipArch(const std::map<std::string, at::Tensor>& tensors, const std::string& path);

// The number of blocks "<prefix>N.*" among `tensors` (N = 0 .. count-1). Throws InputError naming
// `path` when an index in between has no tensor.
int64_t countBlocks(const std::map<std::string, at::Tensor>& tensors, const std::string& prefix,
                    const std::string& path);

// Loads CLIP weights in any layout clip_weights.h reads (OpenAI TorchScript archive, torch.save
// or safetensors state dict, Hugging Face CLIPModel) into a new fp32 ClipModel on the CPU.
std::shared_ptr<ClipModel> loadClip(const std::string& path);

// What every stage does with model.weights before it starts: checks that the CLIP weights at
// `path` are complete and load -- the layout, every tensor's name and shape. Throws InputError
// naming the file ("<path>: CLIP weights file not found (model.weights)" when absent, else
// "unusable CLIP weights (model.weights): <what the loader found>").
void checkClipWeights(const std::string& path);

// Writes `model` as a TorchScript archive that loadClip() reads (OpenAI names plus metadata).
// Written to a temporary file and renamed, so `path` is never half-written. Throws InputError
// when the folder is not writable.
void saveClip(const ClipModel& model, const std::string& path);

// Writes `tensors` (dotted names) as a TorchScript archive of nested modules holding them as
// parameters (int64 tensors as buffers), through a temporary file and a rename. saveClip() uses
// it; tests use it to build broken checkpoints.
void writeTensorArchive(const std::map<std::string, at::Tensor>& tensors, const std::string& path);

// Architecture and parameter counts (vision / text / total) of a model, several lines.
std::string describeClip(const ClipModel& model);
// describeClip() of a checkpoint, plus the file and its stored dtype.
std::string describeCheckpoint(const std::string& path);

// True when `path` starts like a zip archive (TorchScript archives are zip files); cheap.
bool isZipArchive(const std::string& path);
// True when `path` is a TorchScript archive holding visual.conv1.weight (a CLIP ViT checkpoint).
// Never throws; loads the archive, so it costs about as much as reading the file.
bool isClipCheckpoint(const std::string& path);

}  // namespace agreid::trainer
