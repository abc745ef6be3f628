#include "trainer/model/torch_save.h"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/error.h"
#include "trainer/model/torch_pickle.h"
#include "trainer/util/zip_verify.h"

namespace agreid::trainer {
namespace {

constexpr const char* kTorchSaveLabel = "torch.save file";
constexpr const char* kTorchScriptLabel = "TorchScript archive";

// "<label> '<path>': <what>", e.g. "torch.save file 'w.pt': no data.pkl in the archive".
[[noreturn]] void fail(const char* label, const std::string& path, const std::string& what) {
  throw InputError(std::string(label) + " '" + path + "': " + what);
}
[[noreturn]] void fail(const std::string& path, const std::string& what) {
  fail(kTorchSaveLabel, path, what);
}

std::string firstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

struct StorageType {
  const char* name;
  at::ScalarType type;
};
const StorageType kStorageTypes[] = {
    {"torch.FloatStorage", at::kFloat},       {"torch.HalfStorage", at::kHalf},
    {"torch.BFloat16Storage", at::kBFloat16}, {"torch.DoubleStorage", at::kDouble},
    {"torch.LongStorage", at::kLong},         {"torch.IntStorage", at::kInt},
    {"torch.ShortStorage", at::kShort},       {"torch.CharStorage", at::kChar},
    {"torch.ByteStorage", at::kByte},         {"torch.BoolStorage", at::kBool},
    {"torch.UntypedStorage", at::kByte},
};

// Reads data/<key> of the archive as a 1-D tensor of `storage_type`'s elements.
at::Tensor loadStorage(caffe2::serialize::PyTorchStreamReader& zip, const char* label,
                       const std::string& path, const std::string& storage_type,
                       const std::string& key) {
  const StorageType* type = nullptr;
  for (const StorageType& t : kStorageTypes) {
    if (storage_type == t.name) type = &t;
  }
  if (!type) fail(label, path, "storage type " + storage_type + " is not supported");
  const std::string record = "data/" + key;
  at::DataPtr data;
  std::size_t bytes = 0;
  try {
    if (!zip.hasRecord(record)) {
      fail(label, path, "storage '" + record + "' is missing from the archive");
    }
    std::tie(data, bytes) = zip.getRecord(record);
  } catch (const c10::Error& e) {
    fail(label, path,
         "storage '" + record + "' cannot be read (" + firstLine(e.what_without_backtrace()) + ")");
  }
  const auto element = static_cast<std::size_t>(c10::elementSize(type->type));
  if (bytes % element != 0) {
    fail(label, path, "storage '" + record + "' is not a whole number of elements");
  }
  at::Tensor t =
      at::empty({static_cast<int64_t>(bytes / element)}, at::TensorOptions().dtype(type->type));
  if (bytes) std::memcpy(t.data_ptr(), data.get(), bytes);
  return t;
}

// The dict holding the tensors: the top level, or its state_dict/model/module member.
const PyValue* findStateDict(const PyValue& root) {
  if (root.kind != PyValue::kDict) return nullptr;
  for (const auto& [k, v] : root.dict) {
    if (k->kind == PyValue::kString && v->kind == PyValue::kTensor) return &root;
  }
  for (const char* name : {"state_dict", "model", "module"}) {
    for (const auto& [k, v] : root.dict) {
      if (k->kind == PyValue::kString && k->s == name && v->kind == PyValue::kDict) {
        return v.get();
      }
    }
  }
  return nullptr;
}

bool isModuleObject(const PyValue& v) {
  return v.kind == PyValue::kOpaque && v.s.rfind("__torch__.", 0) == 0;
}

// Adds the tensor attributes of `module` and its submodules, named prefix + attribute path. A
// module object met a second time is refused: TorchScript writes each submodule once, and a
// pickle that shares or nests one in itself could otherwise make the walk loop or explode.
void collectModuleTensors(const PyValue& module, const std::string& prefix, int depth,
                          std::set<const PyValue*>& seen, const std::string& path,
                          std::map<std::string, at::Tensor>& out) {
  if (depth > 64) {
    fail(kTorchScriptLabel, path, "modules nest deeper than 64 levels at '" + prefix + "'");
  }
  for (const auto& [key, value] : module.dict) {
    if (key->kind != PyValue::kString) continue;
    const std::string name = prefix + key->s;
    if (value->kind == PyValue::kTensor) {
      if (!out.emplace(name, value->tensor).second) {
        fail(kTorchScriptLabel, path, "tensor '" + name + "' twice");
      }
    } else if (isModuleObject(*value)) {
      if (!seen.insert(value.get()).second) {
        fail(kTorchScriptLabel, path, "module '" + name + "' appears twice in the module tree");
      }
      collectModuleTensors(*value, name + ".", depth + 1, seen, path, out);
    }
  }
}

// Opens the archive and unpickles its data.pkl, loading storages from data/<key>.
TorchPickle readArchivePickle(const char* label, const std::string& path) {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> zip;
  at::DataPtr pickle;
  std::size_t size = 0;
  try {
    zip = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
    if (!zip->hasRecord("data.pkl")) fail(label, path, "no data.pkl in the archive");
    std::tie(pickle, size) = zip->getRecord("data.pkl");
  } catch (const c10::Error& e) {
    fail(label, path, "not a readable zip archive (" + firstLine(e.what_without_backtrace()) + ")");
  }
  return readTorchPickle(
      static_cast<const char*>(pickle.get()), size,
      [&](const std::string& type, const std::string& key) {
        return loadStorage(*zip, label, path, type, key);
      },
      std::string(label) + " '" + path + "'");
}

}  // namespace

ZipKind zipKind(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {0, 0, 0, 0};
  in.read(magic, 4);
  if (in.gcount() != 4 || std::memcmp(magic, "PK\x03\x04", 4) != 0) return ZipKind::kNotZip;
  ZipSummary zip;
  try {
    zip = verifyZipArchive(path);
  } catch (const InputError&) {
    return ZipKind::kOtherZip;
  }
  if (zip.hasRecord("constants.pkl")) return ZipKind::kTorchScript;
  if (zip.hasRecord("data.pkl")) return ZipKind::kTorchSave;
  return ZipKind::kOtherZip;
}

bool isLegacyTorchSave(const std::string& path) {
  // PROTO 2, then LONG1 of 10 bytes: torch's magic number 0x1950a86a20f9469cfc6c.
  static const unsigned char kHead[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20};
  std::ifstream in(path, std::ios::binary);
  unsigned char head[sizeof kHead];
  in.read(reinterpret_cast<char*>(head), sizeof head);
  return in.gcount() == static_cast<std::streamsize>(sizeof head) &&
         std::memcmp(head, kHead, sizeof head) == 0;
}

std::map<std::string, at::Tensor> readTorchSaveStateDict(const std::string& path,
                                                         std::string* stored_dtype) {
  if (isLegacyTorchSave(path)) {
    fail(path,
         "the legacy format of PyTorch < 1.6 is not supported; re-save it with a current "
         "torch.save");
  }
  const TorchPickle pickled = readArchivePickle(kTorchSaveLabel, path);
  const PyValue* dict = findStateDict(*pickled.root);
  if (!dict) fail(path, "holds no dict of tensors (a state dict)");
  std::map<std::string, at::Tensor> out;
  bool all_module = true;
  for (const auto& [k, v] : dict->dict) {
    if (k->kind != PyValue::kString || v->kind != PyValue::kTensor) continue;
    all_module = all_module && k->s.rfind("module.", 0) == 0;
    at::Tensor t = v->tensor;
    t = t.is_floating_point() ? t.to(at::kFloat) : t.to(at::kLong);
    if (!out.emplace(k->s, t.contiguous()).second) fail(path, "tensor '" + k->s + "' twice");
  }
  if (out.empty()) fail(path, "holds no tensors");
  if (all_module) {
    std::map<std::string, at::Tensor> stripped;
    for (auto& [name, t] : out) stripped.emplace(name.substr(7), t);
    out.swap(stripped);
  }
  if (stored_dtype) *stored_dtype = pickled.stored_dtype;
  return out;
}

std::map<std::string, at::Tensor> readTorchScriptTensors(const std::string& path,
                                                         std::string* stored_dtype) {
  const TorchPickle pickled = readArchivePickle(kTorchScriptLabel, path);
  if (!isModuleObject(*pickled.root)) {
    fail(kTorchScriptLabel, path, "data.pkl holds no TorchScript module");
  }
  std::map<std::string, at::Tensor> out;
  std::set<const PyValue*> seen = {pickled.root.get()};
  collectModuleTensors(*pickled.root, "", 0, seen, path, out);
  if (stored_dtype) *stored_dtype = pickled.stored_dtype;
  return out;
}

}  // namespace agreid::trainer
