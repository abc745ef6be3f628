// A restricted reader of Python pickles as torch.save writes them (data.pkl of its zip format),
// for torch_save.h. LibTorch 1.13's own pickle_load turns Python's OrderedDict (what
// state_dict() returns) into None, so the pickle is read here: protocol 2-4 opcodes, dicts
// (OrderedDict included), lists, tuples, numbers, strings, and tensors rebuilt by
// torch._utils._rebuild_tensor_v2 / _rebuild_parameter from storages the caller loads. Other
// Python objects become opaque values: never executed, only skipped; an opaque object keeps the
// dict its BUILD gives it (a TorchScript module's attributes). Pure functions; thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace agreid::trainer {

// A Python value from the pickle. Dicts and lists are shared (the memo refers to them).
struct PyValue;
using PyPtr = std::shared_ptr<PyValue>;
struct PyValue {
  enum Kind {
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kTuple,
    kList,
    kDict,
    kTensor,
    kGlobal,
    kOpaque
  };
  Kind kind = kNone;
  int64_t i = 0;
  double f = 0;
  std::string s;  // string value; "module.name" of a global or an opaque object's class
  std::vector<PyPtr> items;
  std::vector<std::pair<PyPtr, PyPtr>> dict;
  at::Tensor tensor;
};

// Loads a storage: (its class, e.g. "torch.FloatStorage", its key) -> a 1-D tensor of its
// elements. Throws InputError when it cannot.
using StorageLoader =
    std::function<at::Tensor(const std::string& storage_type, const std::string& key)>;

// Every value one unpickling made. A pickle can make a value contain itself (a memoised list
// appended to itself, a module whose state refers back to it), which shared pointers alone would
// never free; the arena's destructor empties every value still alive, which breaks such cycles.
struct PickleArena {
  std::vector<std::weak_ptr<PyValue>> values;
  PickleArena() = default;
  PickleArena(const PickleArena&) = delete;
  PickleArena& operator=(const PickleArena&) = delete;
  ~PickleArena();
};

// The values stay usable while the TorchPickle they came from is alive.
struct TorchPickle {
  std::shared_ptr<PickleArena> arena;  // declared first: released last
  PyPtr root;                          // the unpickled value
  std::string stored_dtype;  // dtype of the first floating tensor rebuilt ("Half", ...), or ""
};

// Unpickles `size` bytes at `data`. Throws InputError "<where>: ... in data.pkl at byte N" on a
// malformed or truncated pickle, an unsupported opcode, or a tensor outside its storage.
TorchPickle readTorchPickle(const char* data, std::size_t size, const StorageLoader& load,
                            const std::string& where);

}  // namespace agreid::trainer
