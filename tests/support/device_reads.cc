#include "tests/support/device_reads.h"

#include <ATen/record_function.h>

#include <cstring>

namespace agreid::testing {
namespace {

struct Counts {
  int64_t depth = 0;     // open step scopes
  int64_t op_depth = 0;  // open operators (and backward functions) inside them
  int64_t steps = 0;
  int64_t reads = 0;
  std::vector<std::string> examples;
  at::CallbackHandle handle = 0;
};

// RecordFunction callbacks are plain function pointers: the counts live per thread.
Counts& counts() {
  thread_local Counts c;
  return c;
}

// Whether an aten::to call copies to the CPU and waits for the copy.
bool blockingCopyToHost(const at::RecordFunction& fn) {
  const auto op = fn.operator_name();
  const auto inputs = fn.inputs();
  if (!op || inputs.empty()) return false;
  const std::string& overload = op->overload_name;
  // Positions of the target device and of non_blocking in each overload of aten::to.
  int device = -1, non_blocking = -1;
  if (overload == "device") {
    device = 1, non_blocking = 3;
  } else if (overload == "dtype_layout") {
    device = 3, non_blocking = 5;
  } else if (overload == "other") {
    device = 1, non_blocking = 2;
  } else {
    return false;  // dtype only: no copy between devices
  }
  if (static_cast<int>(inputs.size()) <= non_blocking) return false;
  const c10::IValue& d = inputs[device];
  bool to_cpu = false;
  if (d.isDevice()) to_cpu = d.toDevice().is_cpu();
  if (d.isTensor()) to_cpu = d.toTensor().device().is_cpu();
  const c10::IValue& nb = inputs[non_blocking];
  return to_cpu && !(nb.isBool() && nb.toBool());
}

std::unique_ptr<at::ObserverContext> onStart(const at::RecordFunction& fn) {
  Counts& c = counts();
  const char* name = fn.name();
  if (std::strcmp(name, "agreid::step") == 0) {
    ++c.depth;
    ++c.steps;
    return nullptr;
  }
  if (c.depth == 0) return nullptr;
  // .item() anywhere (inside LibTorch too, e.g. an operator sizing its output by a value); a
  // copy to the host only when the step's code asks for it: LibTorch's operators convert dtypes
  // internally with calls that look alike in a CPU run.
  const bool item = std::strcmp(name, "aten::_local_scalar_dense") == 0;
  const bool copy = c.op_depth == 0 && std::strcmp(name, "aten::to") == 0 && blockingCopyToHost(fn);
  ++c.op_depth;
  if (item || copy) {
    ++c.reads;
    if (c.examples.size() < 10) {
      const auto op = fn.operator_name();
      c.examples.push_back("step " + std::to_string(c.steps) + ": " + name +
                           (op && !op->overload_name.empty() ? "." + op->overload_name : ""));
    }
  }
  return nullptr;
}

void onEnd(const at::RecordFunction& fn, at::ObserverContext* /*unused*/) {
  Counts& c = counts();
  if (std::strcmp(fn.name(), "agreid::step") == 0) {
    --c.depth;
  } else if (c.depth > 0 && c.op_depth > 0) {
    --c.op_depth;
  }
}

}  // namespace

DeviceReadCounter::DeviceReadCounter() {
  counts() = Counts{};
  counts().handle = at::addThreadLocalCallback(
      at::RecordFunctionCallback(onStart, onEnd)
          .needsInputs(true)
          .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION,
                   at::RecordScope::USER_SCOPE}));
}

DeviceReadCounter::~DeviceReadCounter() { at::removeCallback(counts().handle); }

int64_t DeviceReadCounter::steps() const { return counts().steps; }
int64_t DeviceReadCounter::readsInSteps() const { return counts().reads; }
std::vector<std::string> DeviceReadCounter::examples() const { return counts().examples; }

}  // namespace agreid::testing
