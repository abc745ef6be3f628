// Argument checks shared by the Communicator implementations. They throw agreid::InternalError
// (through AGREID_CHECK): passing a tensor of the wrong device or dtype is a bug in the caller.
// Pure functions; thread-safe; nothing here communicates.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "comm/communicator.h"

namespace agreid::comm {

// The dtypes every backend accepts: float32, float64, bfloat16, int32, int64.
bool isSupportedDtype(c10::ScalarType dtype);

// Which device a backend expects its tensors on.
enum class TensorPlace { kCpu, kCuda };

// Checks that `tensor` is defined, dense, on `place` and of a supported dtype. `collective` and
// `backend` name the call in the message, e.g. "MpiCommunicator::allReduce: expected a CPU tensor,
// got a tensor on cuda:0".
void checkCollectiveTensor(const at::Tensor& tensor, TensorPlace place, const std::string& backend,
                           const char* collective);

// Checks that `op` can reduce `dtype` (kAvg needs a floating-point dtype).
void checkReduceOp(ReduceOp op, c10::ScalarType dtype, const std::string& backend,
                   const char* collective);

const char* reduceOpName(ReduceOp op);

// "allReduce #7 did not complete within 500 ms on rank 0 of 2 (mpi)" -- the text of a timeout.
std::string timeoutMessage(const std::string& backend, const char* collective, uint64_t sequence,
                           int rank, int size, std::chrono::milliseconds timeout);

}  // namespace agreid::comm
