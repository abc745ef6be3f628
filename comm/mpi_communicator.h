// MpiCommunicator: the Communicator for CPU tensors over MPI: all-reduce on a communication thread,
// the other collectives as non-blocking MPI calls polled on the caller's thread.
//
// Every other collective starts an MPI_I* operation on the tensor's own memory (in place; a
// contiguous copy only for non-contiguous tensors, bfloat16 reductions, which run in float32, and
// results that need reshaping) and completes by polling MPI_Test against the deadline
// `opts.timeout`; past it the call throws CommError naming the collective, the rank and the
// timeout.
//
// allReduce runs on the communicator's own communication thread (when MPI provides
// MPI_THREAD_MULTIPLE, the default): it queues a blocking MPI_Allreduce on a second duplicate of
// the communicator and returns at once, so the reduction progresses while the caller computes
// (the gradient reducer's overlap) and gets the bandwidth of Open MPI's blocking algorithms, about
// twice that of MPI_Iallreduce (docs/benchmarks.md). Reductions run in submission order, which is
// the same on every rank; Work::wait sleeps until the reduction is done or the deadline passes.
// Without MPI_THREAD_MULTIPLE, or with `reduce_on_thread = false`, allReduce posts
// MPI_Iallreduce, which progresses only while this process is inside MPI.
//
// After a CommError the communicator is unusable and the job must abort (launch/main.cc calls
// MPI_Abort): the timed-out operation stays posted and its buffers are kept alive.
//
// Thread-safety: one MpiCommunicator is used by one thread at a time; its communication thread
// calls MPI concurrently with that thread, which is why it exists only under
// MPI_THREAD_MULTIPLE (as do several communicators used from different threads). A Work must not
// outlive its communicator. All ranks of the communicator must construct it (MPI_Comm_dup is
// collective).
#pragma once

#include <mpi.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "comm/task_thread.h"

namespace agreid::comm {

struct MpiCommunicatorOptions {
  // All-reduce as blocking MPI_Allreduce on a communication thread (needs MPI_THREAD_MULTIPLE;
  // ignored without it) instead of MPI_Iallreduce on the caller's thread.
  bool reduce_on_thread = true;
};

class MpiCommunicator : public Communicator {
 public:
  // Duplicates `comm` so that our traffic never matches anyone else's. MPI must be initialised
  // (comm/mpi_session.h). Collective over `comm`.
  explicit MpiCommunicator(MPI_Comm comm = MPI_COMM_WORLD, const MpiCommunicatorOptions& opts = {});
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backendName() const override { return "mpi"; }
  MPI_Comm mpiComm() const { return comm_; }
  bool reducesOnThread() const { return reduce_thread_ != nullptr; }

  std::unique_ptr<Work> allReduce(at::Tensor& tensor, const AllReduceOptions& opts = {}) override;
  void broadcast(at::Tensor& tensor, const BroadcastOptions& opts = {}) override;
  at::Tensor allGather(const at::Tensor& input, const AllGatherOptions& opts = {}) override;
  at::Tensor allGatherV(const at::Tensor& input, const AllGatherOptions& opts = {}) override;
  at::Tensor reduceScatter(const at::Tensor& input, const ReduceScatterOptions& opts = {}) override;
  void barrier(const BarrierOptions& opts = {}) override;

 private:
  class MpiWork;
  class ThreadWork;
  friend class MpiWork;
  friend class ThreadWork;

  // Keeps a request that will never be waited for, and the buffers it writes, alive.
  void abandon(MPI_Request request, std::vector<at::Tensor> buffers);

  MPI_Comm comm_ = MPI_COMM_NULL;
  MPI_Comm reduce_comm_ = MPI_COMM_NULL;  // the communication thread's, when it exists
  std::unique_ptr<TaskThread> reduce_thread_;
  int rank_ = 0;
  int size_ = 1;
  uint64_t next_sequence_ = 0;
  std::mutex abandoned_mutex_;
  std::vector<std::pair<MPI_Request, std::vector<at::Tensor>>> abandoned_;
};

}  // namespace agreid::comm
