// The trained re-ID model as a file: what `agreid train` leaves in <run.out_dir>/model_final.pt
// and what `agreid eval --checkpoint` and `agreid extract --weights` read. A TorchScript archive
// (trainer/model/clip_checkpoint.h writeTensorArchive) holding the ReidModel's tensors under
// "reid.<name>", the attribute encoder's under "encoder.<name>" when present, and int64 metadata
// "meta.arch" (the CLIP architecture), "meta.reid" (classes, cameras, height, width, stride,
// sie) and float "meta.sie_coe".
#pragma once

#include <memory>
#include <string>

namespace agreid::trainer {

struct ClipArch;
class ReidModel;
class AttributeEncoder;

void saveReidCheckpoint(const std::string& path, const ClipArch& arch, const ReidModel& model,
                        const AttributeEncoder* encoder);

// True when `path` is a re-ID checkpoint (it holds meta.reid).
bool isReidCheckpoint(const std::string& path);

// Rebuilds the model (CPU, eval mode). Throws InputError naming the file and the tensor when a
// tensor is missing, unexpected or of another shape (a checkpoint of a different architecture).
std::shared_ptr<ReidModel> loadReidCheckpoint(const std::string& path);

}  // namespace agreid::trainer
