// MpiCommunicator: the Communicator for CPU tensors, over Open MPI's non-blocking collectives.
//
// Every collective starts an MPI_I* operation on the tensor's own memory (in place; a contiguous
// copy only for non-contiguous tensors, bfloat16 reductions, which run in float32, and
// results that need reshaping) and completes by polling MPI_Test against the deadline
// `opts.timeout`; past it the call throws CommError naming the collective, the rank and the
// timeout. allReduce returns as soon as MPI_Iallreduce is posted; Open MPI makes progress on it
// whenever this process calls into MPI (another collective or Work::wait).
//
// After a CommError the communicator is unusable and the job must abort (launch/main.cc calls
// MPI_Abort): the timed-out operation stays posted and its buffers are kept alive.
//
// Thread-safety: needs MPI_THREAD_MULTIPLE only if several communicators are used from different
// threads; one MpiCommunicator is used by one thread at a time. A Work must not outlive its
// communicator. All ranks of the communicator must construct it (MPI_Comm_dup is collective).
#pragma once

#include <mpi.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "comm/communicator.h"

namespace agreid::comm {

class MpiCommunicator : public Communicator {
 public:
  // Duplicates `comm` so that our traffic never matches anyone else's. MPI must be initialised
  // (comm/mpi_session.h). Collective over `comm`.
  explicit MpiCommunicator(MPI_Comm comm = MPI_COMM_WORLD);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backendName() const override { return "mpi"; }
  MPI_Comm mpiComm() const { return comm_; }

  std::unique_ptr<Work> allReduce(at::Tensor& tensor, const AllReduceOptions& opts = {}) override;
  void broadcast(at::Tensor& tensor, const BroadcastOptions& opts = {}) override;
  at::Tensor allGather(const at::Tensor& input, const AllGatherOptions& opts = {}) override;
  at::Tensor allGatherV(const at::Tensor& input, const AllGatherOptions& opts = {}) override;
  at::Tensor reduceScatter(const at::Tensor& input, const ReduceScatterOptions& opts = {}) override;
  void barrier(const BarrierOptions& opts = {}) override;

 private:
  class MpiWork;
  friend class MpiWork;

  // Keeps a request that will never be waited for, and the buffers it writes, alive.
  void abandon(MPI_Request request, std::vector<at::Tensor> buffers);

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  uint64_t next_sequence_ = 0;
  std::mutex abandoned_mutex_;
  std::vector<std::pair<MPI_Request, std::vector<at::Tensor>>> abandoned_;
};

}  // namespace agreid::comm
