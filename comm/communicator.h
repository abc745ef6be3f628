// Communicator: collectives over one group of ranks.
//
// Contract: every rank issues the same collectives, with tensors of the same dtype and (except for
// allGatherV) the same shape, in the same order. Implementations: MpiCommunicator (CPU tensors,
// comm/mpi_communicator.h), ThreadCommunicator (N ranks as threads in one process, for tests,
// comm/thread_communicator.h) and NcclCommunicator (CUDA tensors, comm/nccl_communicator.h).
//
// A collective that does not finish within its timeout throws CommError (comm/comm_error.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <chrono>
#include <memory>
#include <string>

namespace agreid::comm {

enum class ReduceOp { kSum, kAvg, kMax, kMin };

inline constexpr std::chrono::milliseconds kDefaultTimeout = std::chrono::minutes(10);

struct AllReduceOptions {
  ReduceOp op = ReduceOp::kSum;
  std::chrono::milliseconds timeout = kDefaultTimeout;
};

struct BroadcastOptions {
  int root = 0;
  std::chrono::milliseconds timeout = kDefaultTimeout;
};

struct AllGatherOptions {
  std::chrono::milliseconds timeout = kDefaultTimeout;
};

struct ReduceScatterOptions {
  ReduceOp op = ReduceOp::kSum;
  std::chrono::milliseconds timeout = kDefaultTimeout;
};

struct BarrierOptions {
  std::chrono::milliseconds timeout = kDefaultTimeout;
};

// A pending collective. For CPU backends wait() blocks the calling thread until the result is in
// place; for NCCL it makes the current CUDA stream wait and does not block the host.
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backendName() const = 0;

  // In place. Starts the reduction and returns at once; call wait() before reading `tensor`.
  virtual std::unique_ptr<Work> allReduce(at::Tensor& tensor,
                                          const AllReduceOptions& opts = {}) = 0;

  // In place: every rank ends with root's values.
  virtual void broadcast(at::Tensor& tensor, const BroadcastOptions& opts = {}) = 0;

  // Every rank passes a tensor of the same shape [n, ...]; returns [size() * n, ...] in rank order.
  virtual at::Tensor allGather(const at::Tensor& input, const AllGatherOptions& opts = {}) = 0;

  // Like allGather, but the first dimension may differ between ranks (the rest must match).
  virtual at::Tensor allGatherV(const at::Tensor& input, const AllGatherOptions& opts = {}) = 0;

  // input [size() * n, ...] on every rank; returns rank r's reduced slice [n, ...].
  virtual at::Tensor reduceScatter(const at::Tensor& input,
                                   const ReduceScatterOptions& opts = {}) = 0;

  virtual void barrier(const BarrierOptions& opts = {}) = 0;
};

}  // namespace agreid::comm
