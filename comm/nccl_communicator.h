// NcclCommunicator: the Communicator for CUDA tensors, over NCCL on its own CUDA stream.
// Compiled only where the CUDA toolkit and NCCL are found (AGREID_HAVE_NCCL); it needs no
// CUDA-enabled LibTorch to compile, but tensors can only be on CUDA when LibTorch has CUDA.
//
// Bootstrap: rank 0 of `bootstrap` calls ncclGetUniqueId, MPI_Bcast shares it, every rank calls
// ncclCommInitRank; each rank drives the GPU `NcclOptions::device` (default: its local rank on
// the node modulo the number of visible GPUs). Collective over `bootstrap`.
//
// Streams: every collective first makes the communicator's stream wait for the work already
// queued on the compute stream (NcclOptions::compute_stream: the stream LibTorch computes on;
// nullptr = the legacy default stream, which is LibTorch's default), then runs on its own stream.
// Work::wait() makes the compute stream wait for the collective and returns at once: it does not
// block the host. The collectives that return tensors (allGather, allGatherV, reduceScatter) and
// broadcast return as soon as the compute stream is ordered after them; barrier blocks the host.
//
// Timeouts: a watchdog thread polls each collective's completion event (cudaEventQuery) and
// ncclCommGetAsyncError; a collective not complete within its timeout, or an asynchronous NCCL
// error, aborts the NCCL communicator (ncclCommAbort, which releases any kernel stuck waiting for
// a peer), and the next call on this communicator (or the barrier in progress) throws CommError
// naming the collective, the rank and the timeout.
//
// Thread-safety: one NcclCommunicator is used by one thread at a time; the watchdog is internal.
#pragma once

#include <mpi.h>

#include <memory>
#include <string>

#include "comm/communicator.h"

namespace agreid::comm {

struct NcclOptions {
  int device = -1;                 // CUDA device ordinal; -1: local rank % device count
  void* compute_stream = nullptr;  // cudaStream_t; nullptr: the legacy default stream
  std::chrono::milliseconds watchdog_period = std::chrono::milliseconds(100);
};

class NcclCommunicator : public Communicator {
 public:
  explicit NcclCommunicator(MPI_Comm bootstrap = MPI_COMM_WORLD, const NcclOptions& opts = {});
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backendName() const override { return "nccl"; }
  int device() const { return device_; }

  std::unique_ptr<Work> allReduce(at::Tensor& tensor, const AllReduceOptions& opts = {}) override;
  void broadcast(at::Tensor& tensor, const BroadcastOptions& opts = {}) override;
  at::Tensor allGather(const at::Tensor& input, const AllGatherOptions& opts = {}) override;
  at::Tensor allGatherV(const at::Tensor& input, const AllGatherOptions& opts = {}) override;
  at::Tensor reduceScatter(const at::Tensor& input, const ReduceScatterOptions& opts = {}) override;
  void barrier(const BarrierOptions& opts = {}) override;

  // Number of CUDA devices this process can use (0 when there is no driver or device).
  static int visibleDeviceCount();

 private:
  struct State;
  class NcclWork;

  int rank_ = 0;
  int size_ = 1;
  int device_ = 0;
  std::unique_ptr<State> state_;
};

}  // namespace agreid::comm
