// ThreadCommunicator: N ranks as threads of one process, exchanging tensors through shared memory.
// For unit tests of multi-rank logic without mpiexec (gloo's spawn() pattern).
//
// A ThreadGroup is the state shared by the N ranks; each rank's thread owns one
// ThreadCommunicator(group, rank). Collectives follow the Communicator contract (every rank issues
// the same collectives in the same order) and it is checked: ranks that disagree on the
// collective, dtype or shape get CommError. Every collective snapshots its input when called, so
// allReduce returns at once and the reduction happens in Work::wait(). Results are computed in rank
// order on every rank, so all ranks get bit-identical values. A collective that does not complete
// within its timeout throws CommError naming the collective, the rank and the timeout.
//
// Thread-safety: a ThreadGroup is thread-safe. One ThreadCommunicator is used by one thread at a
// time. A Work must be waited on (or destroyed) by the thread of its rank and must not outlive
// its group.
//
// Usage in a test:
//   agreid::comm::runRanks(4, [](agreid::comm::Communicator& comm) {
//     at::Tensor t = at::full({3}, comm.rank());
//     comm.allReduce(t)->wait();   // every element is now 0+1+2+3
//   });
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "comm/communicator.h"

namespace agreid::comm {

class ThreadGroup {
 public:
  explicit ThreadGroup(int size);
  ~ThreadGroup();
  ThreadGroup(const ThreadGroup&) = delete;
  ThreadGroup& operator=(const ThreadGroup&) = delete;

  int size() const { return size_; }

  // Makes every pending and later collective of the group throw CommError("... aborted: reason").
  // Used by runRanks when one rank fails, so that no other rank waits for it.
  void abort(const std::string& reason);

 private:
  friend class ThreadCommunicator;
  struct State;
  int size_;
  std::unique_ptr<State> state_;
};

class ThreadCommunicator : public Communicator {
 public:
  ThreadCommunicator(std::shared_ptr<ThreadGroup> group, int rank);

  int rank() const override { return rank_; }
  int size() const override { return group_->size(); }
  std::string backendName() const override { return "thread"; }

  std::unique_ptr<Work> allReduce(at::Tensor& tensor, const AllReduceOptions& opts = {}) override;
  void broadcast(at::Tensor& tensor, const BroadcastOptions& opts = {}) override;
  at::Tensor allGather(const at::Tensor& input, const AllGatherOptions& opts = {}) override;
  at::Tensor allGatherV(const at::Tensor& input, const AllGatherOptions& opts = {}) override;
  at::Tensor reduceScatter(const at::Tensor& input, const ReduceScatterOptions& opts = {}) override;
  void barrier(const BarrierOptions& opts = {}) override;

 private:
  class PendingOp;
  std::unique_ptr<PendingOp> issue(const char* collective, const std::string& signature,
                                   const at::Tensor& contribution,
                                   std::chrono::milliseconds timeout);

  std::shared_ptr<ThreadGroup> group_;
  int rank_;
  uint64_t next_sequence_ = 0;
};

// Runs fn(comm) on `num_ranks` threads, each with a ThreadCommunicator of one fresh ThreadGroup,
// and returns when all have finished. If any rank throws, the group is aborted (so the others stop
// waiting in collectives) and the first exception is rethrown on the calling thread.
void runRanks(int num_ranks, const std::function<void(Communicator&)>& fn);

}  // namespace agreid::comm
