// Files written by Python's torch.save (the zip format of PyTorch >= 1.6): the tensors of a saved
// state dict, read without Python. LibTorch 1.13's own pickle_load turns Python's OrderedDict
// (what state_dict() returns) into None, so the pickle is read by a restricted unpickler
// (torch_pickle.h):
// protocol 2-4 opcodes, dicts (OrderedDict included), lists, tuples, numbers, strings, and
// tensors rebuilt by torch._utils._rebuild_tensor_v2 / _rebuild_parameter from the archive's
// data/<key> storages. Other Python objects (an optimizer's state, argparse namespaces) become
// opaque values: never executed, only skipped.
//
// The state dict is the top-level dict, or its "state_dict" / "model" / "module" member (open_clip
// and many training scripts save {"epoch": .., "state_dict": {..}}); a "module." prefix on every
// name (DistributedDataParallel) is removed. Errors are one-line InputErrors naming the file.
// Pure functions; thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

namespace agreid::trainer {

enum class ZipKind {
  kNotZip,       // no zip signature
  kTorchScript,  // a TorchScript archive (has constants.pkl): torch.jit.save, agreid's own files
  kTorchSave,    // a torch.save archive (data.pkl, no constants.pkl)
  kOtherZip,     // a zip archive of neither kind, or damaged (verifyZipArchive says how)
};

// Looks at the signature, then verifies the whole archive (verifyZipArchive: CRC-32 of every
// entry, LibTorch's layout) and looks for the records by name; LibTorch's reader is not opened.
// A zip that fails the verification is kOtherZip. Never throws.
ZipKind zipKind(const std::string& path);

// True when `path` starts like a legacy (pre-1.6) torch.save file: a pickle whose first value is
// torch's magic number.
bool isLegacyTorchSave(const std::string& path);

// The tensors of the state dict in a torch.save archive (floating ones as fp32, integer ones as
// int64; names with "module." removed). The dtype of the first floating tensor ("Half", ...)
// goes to `stored_dtype` when given. Throws InputError naming `path` when the file is not such an
// archive, is damaged, or holds no dict of tensors.
std::map<std::string, at::Tensor> readTorchSaveStateDict(const std::string& path,
                                                         std::string* stored_dtype = nullptr);

// The tensors of a TorchScript archive (torch.jit.save, OpenAI's CLIP files, agreid's own CLIP
// and re-ID files) by their dotted attribute names ("visual.conv1.weight"), read from data.pkl
// by the restricted unpickler -- the archive's code is never parsed or run (LibTorch's TorchScript
// parser can abort the process on crafted code, a fuzzing finding). Every tensor attribute of the
// module tree is returned, as stored (no dtype conversion). `stored_dtype` as above. Throws
// InputError naming `path` when the archive holds no module object, a module object appears
// twice in the tree (shared, or inside itself), modules nest deeper than 64 levels, or a name
// repeats.
std::map<std::string, at::Tensor> readTorchScriptTensors(const std::string& path,
                                                         std::string* stored_dtype = nullptr);

}  // namespace agreid::trainer
