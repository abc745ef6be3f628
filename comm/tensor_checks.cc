#include "comm/tensor_checks.h"

#include <sstream>

#include "base/check.h"

namespace agreid::comm {

bool isSupportedDtype(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::ScalarType::Float:
    case c10::ScalarType::Double:
    case c10::ScalarType::BFloat16:
    case c10::ScalarType::Int:
    case c10::ScalarType::Long:
      return true;
    default:
      return false;
  }
}

void checkCollectiveTensor(const at::Tensor& tensor, TensorPlace place, const std::string& backend,
                           const char* collective) {
  AGREID_CHECK(tensor.defined(), backend, "::", collective, ": the tensor is undefined");
  AGREID_CHECK(tensor.layout() == c10::kStrided, backend, "::", collective,
               ": expected a dense (strided) tensor");
  const bool cuda = tensor.is_cuda();
  if (place == TensorPlace::kCpu) {
    AGREID_CHECK(tensor.is_cpu(), backend, "::", collective, ": expected a CPU tensor, got one on ",
                 tensor.device().str(), cuda ? " (use NcclCommunicator for CUDA tensors)" : "");
  } else {
    AGREID_CHECK(cuda, backend, "::", collective, ": expected a CUDA tensor, got one on ",
                 tensor.device().str());
  }
  AGREID_CHECK(isSupportedDtype(tensor.scalar_type()), backend, "::", collective,
               ": unsupported dtype ", c10::toString(tensor.scalar_type()),
               " (supported: float32, float64, bfloat16, int32, int64)");
}

void checkReduceOp(ReduceOp op, c10::ScalarType dtype, const std::string& backend,
                   const char* collective) {
  if (op == ReduceOp::kAvg) {
    AGREID_CHECK(c10::isFloatingType(dtype), backend, "::", collective,
                 ": ReduceOp::kAvg needs a floating-point tensor, got ", c10::toString(dtype));
  }
}

const char* reduceOpName(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return "sum";
    case ReduceOp::kAvg:
      return "avg";
    case ReduceOp::kMax:
      return "max";
    case ReduceOp::kMin:
      return "min";
  }
  return "?";
}

std::string timeoutMessage(const std::string& backend, const char* collective, uint64_t sequence,
                           int rank, int size, std::chrono::milliseconds timeout) {
  std::ostringstream os;
  os << collective << " #" << sequence << " did not complete within " << timeout.count()
     << " ms on rank " << rank << " of " << size << " (" << backend << ")";
  return os.str();
}

}  // namespace agreid::comm
