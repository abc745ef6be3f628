#include "trainer/model/torch_pickle.h"

#include <ATen/ATen.h>

#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "base/error.h"

namespace agreid::trainer {
namespace {

// The restricted unpickler (see readTorchPickle).
class Unpickler {
 public:
  Unpickler(const std::string& where, const StorageLoader& load, const char* data, std::size_t size)
      : where_(where), load_(load), p_(data), end_(data + size) {}

  std::shared_ptr<PickleArena> arena() const { return arena_; }

  PyPtr run() {
    for (;;) {
      const uint8_t op = byte();
      switch (op) {
        case 0x80:
          byte();
          break;  // PROTO
        case 0x95:
          bytes(8);
          break;  // FRAME
        case '(':
          marks_.push_back(stack_.size());
          break;
        case '.': {  // STOP
          if (stack_.size() != 1) bad("the pickle does not end with one value");
          return stack_.back();
        }
        case 'N':
          push(make(PyValue::kNone));
          break;
        case 0x88:
        case 0x89: {
          auto v = make(PyValue::kBool);
          v->i = op == 0x88;
          push(v);
          break;
        }
        case 'J':
          pushInt(static_cast<int32_t>(le(4)));
          break;
        case 'K':
          pushInt(static_cast<int64_t>(le(1)));
          break;
        case 'M':
          pushInt(static_cast<int64_t>(le(2)));
          break;
        case 0x8a:
          pushLong(byte());
          break;
        case 0x8b:
          pushLong(static_cast<std::size_t>(le(4)));
          break;
        case 'G': {
          uint64_t bits = 0;
          for (const char c : bytes(8)) bits = (bits << 8) | static_cast<uint8_t>(c);
          auto v = make(PyValue::kFloat);
          std::memcpy(&v->f, &bits, 8);
          push(v);
          break;
        }
        case 'X':
        case 'T':
        case 'B':
          pushString(bytes(static_cast<std::size_t>(le(4))));
          break;
        case 0x8c:
        case 'U':
        case 'C':
          pushString(bytes(byte()));
          break;
        case 0x8e:
          pushString(bytes(static_cast<std::size_t>(le(8))));
          break;  // BINBYTES8
        case 'c': {
          const std::string module = line();
          const std::string name = line();
          pushGlobal(module + "." + name);
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          const PyPtr name = pop();
          const PyPtr module = pop();
          pushGlobal(module->s + "." + name->s);
          break;
        }
        case ')':
          push(make(PyValue::kTuple));
          break;
        case 't':
          pushSequence(PyValue::kTuple, popMark());
          break;
        case 0x85:
        case 0x86:
        case 0x87: {
          const std::size_t n = op - 0x84u;
          if (stack_.size() < n) bad("stack underflow");
          std::vector<PyPtr> items(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
          stack_.resize(stack_.size() - n);
          pushSequence(PyValue::kTuple, std::move(items));
          break;
        }
        case ']':
          push(make(PyValue::kList));
          break;
        case 'l':
          pushSequence(PyValue::kList, popMark());
          break;
        case 'a': {
          const PyPtr v = pop();
          top()->items.push_back(v);
          break;
        }
        case 'e': {
          auto items = popMark();
          auto& list = top()->items;
          list.insert(list.end(), items.begin(), items.end());
          break;
        }
        case '}':
          push(make(PyValue::kDict));
          break;
        case 'd': {
          auto items = popMark();
          push(make(PyValue::kDict));
          setItems(items);
          break;
        }
        case 's': {
          const PyPtr value = pop();
          const PyPtr key = pop();
          setItems({key, value});
          break;
        }
        case 'u':
          setItems(popMark());
          break;
        case 'q':
          memo_[static_cast<uint32_t>(le(1))] = top();
          break;
        case 'r':
          memo_[static_cast<uint32_t>(le(4))] = top();
          break;
        case 0x94:
          memo_[static_cast<uint32_t>(memo_.size())] = top();
          break;  // MEMOIZE
        case 'h':
          push(memo(static_cast<uint32_t>(le(1))));
          break;
        case 'j':
          push(memo(static_cast<uint32_t>(le(4))));
          break;
        case 'Q':
          push(persistentLoad(pop()));
          break;
        case 'R': {
          const PyPtr args = pop();
          const PyPtr callable = pop();
          push(call(callable, args));
          break;
        }
        case 0x81: {  // NEWOBJ: cls.__new__(cls, *args)
          const PyPtr args = pop();
          const PyPtr cls = pop();
          push(call(cls, args));
          break;
        }
        case 'b': {  // BUILD: obj.__setstate__(state)
          const PyPtr state = pop();
          const PyPtr& object = top();
          // A TorchScript module object's attributes (name -> tensor, submodule, flag) are kept
          // for readTorchScriptTensors; other objects' state (a state dict's _metadata) is unused.
          if (object->kind == PyValue::kOpaque && state->kind == PyValue::kDict &&
              object->dict.empty()) {
            object->dict = state->dict;
          }
          break;
        }
        case '0':
          pop();
          break;  // POP
        case '1':
          popMark();
          break;
        case '2':
          push(top());
          break;
        default: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", op);
          bad(std::string("unsupported pickle opcode ") + hex);
        }
      }
    }
  }

  const std::string& storedDtype() const { return stored_dtype_; }

 private:
  [[noreturn]] void bad(const std::string& what) const {
    throw InputError(where_ + ": " + what + " in data.pkl at byte " + std::to_string(p_ - begin_));
  }

  uint8_t byte() {
    if (p_ >= end_) bad("unexpected end of the pickle (truncated?)");
    return static_cast<uint8_t>(*p_++);
  }
  std::string bytes(std::size_t n) {
    if (static_cast<std::size_t>(end_ - p_) < n) bad("unexpected end of the pickle (truncated?)");
    std::string s(p_, n);
    p_ += n;
    return s;
  }
  uint64_t le(int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(byte()) << (8 * i);
    return v;
  }
  std::string line() {
    const char* nl = static_cast<const char*>(std::memchr(p_, '\n', end_ - p_));
    if (!nl) bad("unterminated GLOBAL");
    std::string s(p_, nl);
    p_ = nl + 1;
    return s;
  }

  void push(PyPtr v) { stack_.push_back(std::move(v)); }
  PyPtr pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) {
      bad("stack underflow");
    }
    PyPtr v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  const PyPtr& top() {
    if (stack_.empty()) bad("stack underflow");
    return stack_.back();
  }
  std::vector<PyPtr> popMark() {
    if (marks_.empty()) bad("no MARK");
    const std::size_t at = marks_.back();
    marks_.pop_back();
    std::vector<PyPtr> items(stack_.begin() + static_cast<std::ptrdiff_t>(at), stack_.end());
    stack_.resize(at);
    return items;
  }
  PyPtr memo(uint32_t id) {
    const auto it = memo_.find(id);
    if (it == memo_.end()) bad("reference to an unknown memo entry");
    return it->second;
  }

  void pushInt(int64_t i) {
    auto v = make(PyValue::kInt);
    v->i = i;
    push(v);
  }
  void pushLong(std::size_t n) {
    const std::string b = bytes(n);
    if (n > 8) bad("integer wider than 64 bits");
    uint64_t u = 0;
    for (std::size_t k = 0; k < n; ++k)
      u |= static_cast<uint64_t>(static_cast<uint8_t>(b[k])) << (8 * k);
    if (n > 0 && n < 8 && (static_cast<uint8_t>(b[n - 1]) & 0x80)) u |= ~uint64_t{0} << (8 * n);
    pushInt(static_cast<int64_t>(u));
  }
  void pushString(std::string s) {
    auto v = make(PyValue::kString);
    v->s = std::move(s);
    push(v);
  }
  void pushGlobal(std::string name) {
    auto v = make(PyValue::kGlobal);
    v->s = std::move(name);
    push(v);
  }
  void pushSequence(PyValue::Kind kind, std::vector<PyPtr> items) {
    auto v = make(kind);
    v->items = std::move(items);
    push(v);
  }
  void setItems(const std::vector<PyPtr>& kv) {
    if (kv.size() % 2 != 0) bad("odd number of dict items");
    const PyPtr& d = top();
    if (d->kind != PyValue::kDict) {
      if (d->kind == PyValue::kOpaque) return;  // an unknown mapping type: not needed
      bad("SETITEM on a value that is not a dict");
    }
    for (std::size_t k = 0; k < kv.size(); k += 2) d->dict.emplace_back(kv[k], kv[k + 1]);
  }

  int64_t intArg(const PyPtr& v) {
    if (v->kind != PyValue::kInt && v->kind != PyValue::kBool) bad("expected an integer");
    return v->i;
  }
  std::vector<int64_t> intTuple(const PyPtr& v) {
    if (v->kind != PyValue::kTuple && v->kind != PyValue::kList) bad("expected a tuple of sizes");
    std::vector<int64_t> out;
    for (const PyPtr& x : v->items) out.push_back(intArg(x));
    return out;
  }

  // ('storage', storage_type, key, location, numel) -> a 1-D tensor of the storage's elements.
  PyPtr persistentLoad(const PyPtr& pid) {
    if (pid->kind != PyValue::kTuple || pid->items.size() < 5 ||
        pid->items[0]->kind != PyValue::kString || pid->items[0]->s != "storage" ||
        pid->items[1]->kind != PyValue::kGlobal || pid->items[2]->kind != PyValue::kString) {
      bad("unexpected persistent id (not a tensor storage)");
    }
    const std::string& key = pid->items[2]->s;
    const auto cached = storages_.find(key);
    if (cached != storages_.end()) return cached->second;
    const at::Tensor t = load_(pid->items[1]->s, key);
    auto v = make(PyValue::kTensor);
    v->tensor = t;
    storages_.emplace(key, v);
    return v;
  }

  // _rebuild_tensor_v2(storage, offset, size, stride, ...) with bounds checked.
  PyPtr rebuildTensor(const std::vector<PyPtr>& a) {
    if (a.size() < 4 || a[0]->kind != PyValue::kTensor) bad("malformed tensor record");
    const at::Tensor& storage = a[0]->tensor;
    const int64_t offset = intArg(a[1]);
    const auto size = intTuple(a[2]);
    const auto stride = intTuple(a[3]);
    if (size.size() != stride.size()) bad("tensor size and stride differ in length");
    int64_t last = offset;  // highest element index used
    bool empty = false;
    for (std::size_t d = 0; d < size.size(); ++d) {
      if (size[d] < 0 || stride[d] < 0) bad("negative tensor size or stride");
      if (size[d] == 0) empty = true;
      int64_t reach = 0;
      if (size[d] > 0 && (__builtin_mul_overflow(size[d] - 1, stride[d], &reach) ||
                          __builtin_add_overflow(last, reach, &last))) {
        bad("tensor size or stride out of range");
      }
    }
    if (offset < 0 || (!empty && last >= storage.numel())) {
      bad("tensor reaches past the end of its storage (" + std::to_string(storage.numel()) +
          " elements)");
    }
    auto v = make(PyValue::kTensor);
    v->tensor = empty ? at::empty(size, storage.options())
                      : storage.as_strided(size, stride, offset).clone();
    if (v->tensor.is_floating_point() && stored_dtype_.empty()) {
      stored_dtype_ = c10::toString(v->tensor.scalar_type());
    }
    return v;
  }

  PyPtr call(const PyPtr& callable, const PyPtr& args) {
    if (callable->kind != PyValue::kGlobal) {
      auto v = make(PyValue::kOpaque);
      return v;
    }
    const std::string& name = callable->s;
    const auto& a = args->items;
    if (name == "collections.OrderedDict") {
      auto d = make(PyValue::kDict);
      if (!a.empty() && (a[0]->kind == PyValue::kList || a[0]->kind == PyValue::kTuple)) {
        for (const PyPtr& pair : a[0]->items) {
          if (pair->items.size() == 2) d->dict.emplace_back(pair->items[0], pair->items[1]);
        }
      }
      return d;
    }
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      return rebuildTensor(a);
    }
    if (name == "torch._utils._rebuild_parameter" ||
        name == "torch._utils._rebuild_parameter_with_state") {
      if (a.empty() || a[0]->kind != PyValue::kTensor) bad("malformed parameter record");
      return a[0];
    }
    if (name == "torch._tensor._rebuild_from_type_v2") {
      if (a.size() < 3 || (a[0]->kind == PyValue::kGlobal && a[0]->s == name)) {
        bad("malformed tensor record");
      }
      return call(a[0], a[2]);
    }
    auto v = make(PyValue::kOpaque);
    v->s = name;
    return v;
  }

  // Every value is made here and registered with the arena, which breaks reference cycles when
  // the result is released.
  PyPtr make(PyValue::Kind kind) {
    auto v = std::make_shared<PyValue>();
    v->kind = kind;
    arena_->values.push_back(v);
    return v;
  }

  std::shared_ptr<PickleArena> arena_ = std::make_shared<PickleArena>();
  const std::string& where_;
  const StorageLoader& load_;
  const char* p_;
  const char* const begin_ = p_;
  const char* end_;
  std::vector<PyPtr> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<uint32_t, PyPtr> memo_;
  std::unordered_map<std::string, PyPtr> storages_;
  std::string stored_dtype_;
};

}  // namespace

PickleArena::~PickleArena() {
  for (const auto& weak : values) {
    if (const PyPtr v = weak.lock()) {
      v->items.clear();
      v->dict.clear();
    }
  }
}

TorchPickle readTorchPickle(const char* data, std::size_t size, const StorageLoader& load,
                            const std::string& where) {
  Unpickler unpickler(where, load, data, size);
  TorchPickle out;
  out.arena = unpickler.arena();
  out.root = unpickler.run();
  out.stored_dtype = unpickler.storedDtype();
  return out;
}

}  // namespace agreid::trainer
